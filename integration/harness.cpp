#include "integration/harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "agent/httplib.hpp"
#include "integration/support.hpp"

namespace meshfed::harness {

namespace fs = std::filesystem;
using test::command_result;
using test::run_command;

namespace {

std::string quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

void must(const std::string& cmd) {
    auto r = run_command(cmd);
    if (r.status != 0) throw harness_error("harness: `" + cmd + "` failed: " + r.output);
}

// Runs `f` on a thread that has entered network namespace `ns` (empty: this one). setns on a
// thread moves only that thread; sockets stay in the namespace they were created in.
template <class F>
auto in_netns(const std::string& ns, F f) -> decltype(f()) {
    if (ns.empty()) return f();
    decltype(f()) out{};
    std::thread t([&] {
        int fd = ::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return;
        if (::setns(fd, CLONE_NEWNET) == 0) out = f();
        ::close(fd);
    });
    t.join();
    return out;
}

bool bind_ok(int type, const std::string& ip, int port, int* bound = nullptr) {
    int fd = ::socket(AF_INET, type, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    socklen_t len = sizeof a;
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
              ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
    if (ok && bound) *bound = ntohs(a.sin_port);
    ::close(fd);
    return ok;
}

// A port free for both TCP and UDP on `ip` (gossip uses both on one port).
int free_port(const std::string& ip) {
    for (int attempt = 0; attempt < 50; ++attempt) {
        int port = 0;
        if (bind_ok(SOCK_STREAM, ip, 0, &port) && bind_ok(SOCK_DGRAM, ip, port)) return port;
    }
    throw harness_error("harness: no free port on " + ip);
}

std::string tail(const std::string& text, std::size_t lines) {
    std::size_t pos = text.size();
    for (std::size_t n = 0; n <= lines && pos > 0; ++n) {
        auto p = text.rfind('\n', pos - 1);
        if (p == std::string::npos) return text;
        pos = p;
        if (n == lines) return text.substr(pos + 1);
    }
    return text;
}

std::atomic<int> g_runs{0};

}  // namespace

std::string meshfed_bin() {
    const char* env = std::getenv("MESHFED_BIN");
    return env && *env ? env : MESHFED_BINARY;
}

struct federation::dc_state {
    dc_spec spec;
    int number = 0;  // 1-based, in start order
    std::string ns;  // isolated mode
    std::string ca_file, cert_dir;
    std::vector<server_proc> servers;
    std::vector<gateway_proc> gateways;
    int next_gw_host = 0;
    int gw_port = 0;
    fs::path hosts_file;  // secondaries naming the primary's gateways
};

federation::federation(topology t) : topo_(std::move(t)) {
    if (topo_.dcs.empty()) throw harness_error("harness: a topology needs at least one DC");
    primary_ = topo_.primary.empty() ? topo_.dcs.front().name : topo_.primary;
    if (topo_.gossip_hcl.empty())
        topo_.gossip_hcl =
            "gossip_wan {\n  gossip_interval = \"100ms\"\n  probe_interval = \"500ms\"\n"
            "  probe_timeout = \"250ms\"\n  suspicion_mult = 3\n  reconnect_interval = \"2s\"\n}\n";
    const int run = g_runs++;
    tag_ = std::to_string(::getpid() % 100000) + static_cast<char>('a' + run % 26);
    loop_octet_ = 1 + static_cast<int>((::getpid() * 7 + run) % 250);
    if (topo_.run_dir.empty()) {
        std::string tmpl = (fs::temp_directory_path() / "meshfed-fed-XXXXXX").string();
        run_dir_ = ::mkdtemp(tmpl.data());
        own_run_dir_ = !topo_.keep_run_dir && !std::getenv("MESHFED_HARNESS_KEEP");
    } else {
        run_dir_ = fs::absolute(topo_.run_dir);
        fs::create_directories(run_dir_);
    }
    const bool root = ::geteuid() == 0;
    if (topo_.mode != network_mode::loopback) {
        std::string why;
        if (!root)
            why = "not root";
        else if (run_command("ip netns list").status != 0)
            why = "`ip netns` unavailable";
        if (why.empty()) {
            try {
                setup_namespaces();
                isolated_ = true;
            } catch (const harness_error& e) {
                why = e.what();
            }
        }
        if (!isolated_) {
            if (topo_.mode == network_mode::isolated)
                throw harness_error("harness: isolation mode impossible: " + why);
            std::fprintf(stderr,
                         "harness: network namespaces unavailable (%s); falling back to "
                         "loopback addresses\n",
                         why.c_str());
        }
    }
    hosts_by_name_ = root && topo_.gateways_by_name;
    if (topo_.tls)
        must("cd " + quote(run_dir_.string()) + " && " + meshfed_bin() + " tls ca create");
    if (topo_.gossip_key) {
        auto r = local_verb("keygen");
        if (r.status != 0) throw harness_error("harness: keygen failed: " + r.output);
        gossip_key_ = r.output.substr(0, r.output.find_first_of("\r\n"));
    }
}

federation::~federation() {
    const bool failed = ::testing::Test::HasFailure();
    if (failed) std::fprintf(stderr, "%s\n", logs().c_str());
    for (auto& d : dcs_)
        for (auto& g : d->gateways) stop_proc(g.proc.get());
    for (auto& d : dcs_)
        for (auto& s : d->servers) stop_proc(s.proc.get());
    std::vector<std::string> namespaces;
    for (auto& d : dcs_)
        if (!d->ns.empty()) namespaces.push_back(d->ns);
    if (!wan_ns_.empty()) namespaces.push_back(wan_ns_);
    dcs_.clear();
    for (const auto& ns : namespaces) run_command("ip netns del " + ns);
    if (own_run_dir_ && !failed) {
        std::error_code ec;
        fs::remove_all(run_dir_, ec);
    } else {
        std::fprintf(stderr, "harness: run directory kept: %s\n", run_dir_.c_str());
    }
}

void federation::setup_namespaces() {
    const std::string ns = "mfh" + tag_ + "w";
    must("ip netns add " + ns);
    try {
        must("ip -n " + ns + " link set lo up");
        must("ip -n " + ns + " link add br0 type bridge");
        must("ip -n " + ns + " link set br0 up");
    } catch (const harness_error&) {
        run_command("ip netns del " + ns);
        throw;
    }
    wan_ns_ = ns;
}

void federation::add_dc_network(dc_state& d) {
    if (!isolated_) return;
    d.ns = "mfh" + tag_ + "d" + std::to_string(d.number);
    const std::string n = "ip -n " + d.ns + " ";
    must("ip netns add " + d.ns);
    must(n + "link set lo up");
    const std::string veth = "d" + std::to_string(d.number);
    must("ip -n " + wan_ns_ + " link add " + veth + " type veth peer name wan0 netns " + d.ns);
    must("ip -n " + wan_ns_ + " link set " + veth + " master br0");
    must("ip -n " + wan_ns_ + " link set " + veth + " up");
    must(n + "link set wan0 up");
}

federation::dc_state& federation::dc(const std::string& name) {
    for (auto& d : dcs_)
        if (d->spec.name == name) return *d;
    throw harness_error("harness: no datacenter " + name);
}

std::string federation::netns(const std::string& dc_name) {
    return dc(dc_name).ns;
}

std::vector<std::string> federation::dc_names() const {
    std::vector<std::string> out;
    for (const auto& d : dcs_) out.push_back(d->spec.name);
    return out;
}

server_proc& federation::server(const std::string& name, int i) {
    return dc(name).servers.at(static_cast<std::size_t>(i));
}

gateway_proc& federation::gateway(const std::string& name, int j) {
    return dc(name).gateways.at(static_cast<std::size_t>(j));
}

std::vector<server_proc*> federation::all_servers() {
    std::vector<server_proc*> out;
    for (auto& d : dcs_)
        for (auto& s : d->servers) out.push_back(&s);
    return out;
}

command_result federation::local_verb(const std::string& args) {
    return run_command("cd " + quote(run_dir_.string()) + " && " + meshfed_bin() + " " + args);
}

void federation::start() {
    for (const auto& spec : topo_.dcs) add_dc(spec);
}

// Gateway j's addresses: in loopback mode one address serves both sides; isolated, the LAN
// side is on the DC's dummy network and the WAN side on the shared bridge.
std::string federation::new_gateway_address(dc_state& d, std::string* lan_ip) {
    const int h = ++d.next_gw_host;
    if (h > 8) throw harness_error("harness: too many gateway addresses in " + d.spec.name);
    if (!isolated_) {
        *lan_ip = "127." + std::to_string(loop_octet_) + "." + std::to_string(d.number) + "." +
                  std::to_string(1 + h);
        return *lan_ip;
    }
    *lan_ip = "198.19." + std::to_string(d.number) + "." + std::to_string(1 + h);
    std::string wan = "198.18.0." + std::to_string(10 * d.number + h);
    must("ip -n " + d.ns + " addr add " + *lan_ip + "/32 dev lo");
    must("ip -n " + d.ns + " addr add " + wan + "/24 dev wan0");
    return wan;
}

void federation::write_hosts_files() {
    if (!hosts_by_name_) return;
    std::string text = "127.0.0.1 localhost\n::1 localhost\n";
    for (auto& d : dcs_)
        if (d->spec.name == primary_)
            for (auto& g : d->gateways) text += g.wan_ip + " gateways." + primary_ + ".test\n";
    for (auto& d : dcs_) {
        if (d->hosts_file.empty()) continue;
        // Rewritten in place: the processes see this inode through their bind mount.
        std::ofstream(d->hosts_file, std::ios::trunc) << text;
    }
}

std::function<bool()> federation::child_setup(const dc_state& d) const {
    std::string ns = d.ns.empty() ? "" : "/var/run/netns/" + d.ns;
    std::string hosts = d.hosts_file.empty() ? "" : d.hosts_file.string();
    // Every child: its own process group (a Ctrl-C at the terminal reaches the harness, which
    // stops everything in order) and killed if the harness dies (a test killed at its timeout
    // leaves nothing behind).
    return [ns, hosts]() -> bool {
        ::setpgid(0, 0);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (!ns.empty()) {
            int fd = ::open(ns.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) return false;
            ::close(fd);
        }
        if (!hosts.empty()) {
            if (::unshare(CLONE_NEWNS) != 0) return false;
            if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return false;
            if (::mount(hosts.c_str(), "/etc/hosts", nullptr, MS_BIND, nullptr) != 0) return false;
        }
        return true;
    };
}

std::string federation::server_hcl(const dc_state& d, const server_proc& s) {
    std::ostringstream h;
    const bool secondary = d.spec.name != primary_;
    h << "node_name = \"" << s.node << "\"\ndatacenter = \"" << d.spec.name
      << "\"\nprimary_datacenter = \"" << primary_ << "\"\nserver = true\nbootstrap = true\n"
      << "bind_addr = \"" << s.ip << "\"\nclient_addr = \"" << s.ip << "\"\n"
      << "advertise_addr_wan = \"" << (isolated_ ? s.ip : "192.0.2." + std::to_string(d.number))
      << "\"\n"
      << "data_dir = \"" << (s.dir / "data").string() << "\"\nlog_level = \"debug\"\n"
      << "retry_interval_wan = \"1s\"\nprimary_gateways_interval = \""
      << topo_.primary_gateways_interval << "\"\n"
      << "ports {\n  serf_wan = " << s.serf_port << "\n  server = " << s.rpc_port
      << "\n  http = " << s.http_port << "\n}\n"
      << topo_.gossip_hcl;
    const std::string key = d.spec.gossip_key.empty() ? gossip_key_ : d.spec.gossip_key;
    if (!key.empty()) h << "encrypt = \"" << key << "\"\n";
    if (topo_.wanfed)
        h << "connect {\n  enabled = true\n  enable_mesh_gateway_wan_federation = true\n}\n";
    if (topo_.tls) {
        const fs::path dir = d.cert_dir;
        const std::string cert = d.spec.name + "-server-consul-" + std::to_string(s.index);
        h << "tls {\n  defaults {\n    ca_file = \"" << d.ca_file << "\"\n    cert_file = \""
          << (dir / (cert + ".pem")).string() << "\"\n    key_file = \""
          << (dir / (cert + "-key.pem")).string()
          << "\"\n    verify_incoming = true\n    verify_outgoing = true\n  }\n"
          << "  internal_rpc {\n    verify_server_hostname = true\n  }\n}\n";
    }
    if (secondary && topo_.wanfed) {
        auto& p = dc(primary_);
        std::vector<std::string> entries;
        if (hosts_by_name_) {
            entries.push_back("gateways." + primary_ + ".test:" + std::to_string(p.gw_port));
        } else {
            for (auto& g : p.gateways) entries.push_back(g.wan_addr());
        }
        h << "primary_gateways = [";
        for (std::size_t k = 0; k < entries.size(); ++k)
            h << (k ? ", " : "") << "\"" << entries[k] << "\"";
        h << "]\n";
    }
    h << topo_.extra_server_hcl << d.spec.extra_hcl;
    return h.str();
}

void federation::add_dc(const dc_spec& spec) {
    for (auto& d : dcs_)
        if (d->spec.name == spec.name) throw harness_error("harness: DC exists: " + spec.name);
    if (spec.name != primary_ && dcs_.empty())
        throw harness_error("harness: the primary " + primary_ + " must start first");
    auto owned = std::make_unique<dc_state>();
    auto& d = *owned;
    d.spec = spec;
    d.number = static_cast<int>(dcs_.size()) + 1;
    dcs_.push_back(std::move(owned));
    add_dc_network(d);
    if (spec.name != primary_ && hosts_by_name_) {
        d.hosts_file = run_dir_ / (spec.name + "-hosts");
        write_hosts_files();
    }
    // Certificates: from the federation's CA, or (a bad setup) from a CA of the DC's own.
    d.cert_dir = run_dir_.string();
    if (topo_.tls) {
        if (spec.own_ca) {
            d.cert_dir = (run_dir_ / (spec.name + "-ca")).string();
            fs::create_directories(d.cert_dir);
            must("cd " + quote(d.cert_dir) + " && " + meshfed_bin() + " tls ca create");
        }
        d.ca_file = (fs::path(d.cert_dir) / "consul-agent-ca.pem").string();
    }
    for (int i = 0; i < spec.servers; ++i) {
        server_proc s;
        s.dc = spec.name;
        s.index = i;
        s.node = "server-" + std::to_string(i + 1);
        s.dir = run_dir_ / (spec.name + "-" + s.node);
        fs::create_directories(s.dir);
        if (isolated_) {
            s.ip = "198.19." + std::to_string(d.number) + "." + std::to_string(10 + i);
            must("ip -n " + d.ns + " addr add " + s.ip + "/32 dev lo");
            s.rpc_port = 8300;
            s.serf_port = 8302;
            s.http_port = 8500;
        } else {
            s.ip = "127." + std::to_string(loop_octet_) + "." + std::to_string(d.number) + "." +
                   std::to_string(10 + i);
            s.rpc_port = free_port(s.ip);
            s.serf_port = free_port(s.ip);
            s.http_port = free_port(s.ip);
        }
        if (topo_.tls) {
            std::string args = "tls cert create -server -dc " + spec.name;
            if (spec.cert_node_san) args += " -node " + s.node;
            must("cd " + quote(d.cert_dir) + " && " + meshfed_bin() + " " + args);
        }
        std::ofstream(s.dir / "server.hcl") << server_hcl(d, s);
        d.servers.push_back(std::move(s));
        start_server(spec.name, i);
    }
    for (int j = 0; j < spec.gateways; ++j) {
        gateway_proc g;
        g.dc = spec.name;
        g.index = j;
        g.id = j == 0 ? "mesh-gateway" : "mesh-gateway-" + std::to_string(j + 1);
        g.wan_ip = new_gateway_address(d, &g.lan_ip);
        if (d.gw_port == 0) d.gw_port = isolated_ ? 8443 : free_port(g.wan_ip);
        g.port = d.gw_port;
        d.gateways.push_back(std::move(g));
        start_gateway(spec.name, j);
    }
    if (spec.name == primary_) write_hosts_files();
}

void federation::start_server(const std::string& name, int i) {
    auto& d = dc(name);
    auto& s = d.servers.at(static_cast<std::size_t>(i));
    s.proc.reset();
    s.proc = std::make_unique<test::child_process>(
        meshfed_bin(),
        std::vector<std::string>{"agent", "-config", (s.dir / "server.hcl").string()}, s.log_file(),
        child_setup(d));
    if (!wait_server_ready(s, 20s))
        throw harness_error("harness: " + s.wan_name() + " did not come up:\n" + tail(s.log(), 60));
    phase(s.wan_name() + " serving at " + s.http_addr());
}

void federation::start_gateway(const std::string& name, int j) {
    auto& d = dc(name);
    auto& g = d.gateways.at(static_cast<std::size_t>(j));
    auto& s = d.servers.at(0);
    g.proc.reset();
    g.log_file = run_dir_ / (name + "-" + g.id + "-" + std::to_string(g.generation) + ".log");
    dc_state no_hosts{};
    no_hosts.ns = d.ns;
    g.proc = std::make_unique<test::child_process>(
        meshfed_bin(),
        std::vector<std::string>{"mesh-gateway", "-gateway=mesh", "-register", "-expose-servers",
                                 "-proxy-id", g.id, "-address", g.lan_addr(), "-wan-address",
                                 g.wan_addr(), "-http-addr", "http://" + s.http_addr()},
        g.log_file, child_setup(no_hosts));
    if (!wait_gateway_registered(g, 20s))
        throw harness_error("harness: gateway " + g.id + " of " + name + " did not register:\n" +
                            tail(g.log(), 60));
    phase("gateway " + g.id + " of " + name + " registered (wan " + g.wan_addr() + ")");
}

void federation::stop_proc(test::child_process* p) {
    if (!p || !p->running()) return;
    p->signal(SIGTERM);
    if (!p->wait_exit(5s)) {
        p->signal(SIGKILL);
        p->wait_exit(5s);
    }
}

void federation::stop_server(const std::string& name, int i) {
    stop_proc(server(name, i).proc.get());
}

void federation::kill_server(const std::string& name, int i) {
    auto& s = server(name, i);
    if (!s.proc) return;
    s.proc->signal(SIGKILL);
    s.proc->wait_exit(5s);
}

void federation::stop_gateway(const std::string& name, int j) {
    stop_proc(gateway(name, j).proc.get());
}

void federation::kill_gateway(const std::string& name, int j) {
    auto& g = gateway(name, j);
    if (!g.proc) return;
    g.proc->signal(SIGKILL);
    g.proc->wait_exit(5s);
}

void federation::replace_gateway(const std::string& name, int j) {
    auto& d = dc(name);
    stop_gateway(name, j);
    auto& g = d.gateways.at(static_cast<std::size_t>(j));
    g.wan_ip = new_gateway_address(d, &g.lan_ip);
    if (!isolated_ && !bind_ok(SOCK_STREAM, g.wan_ip, g.port))
        throw harness_error("harness: port " + std::to_string(g.port) + " is taken on " + g.wan_ip);
    ++g.generation;
    if (name == primary_) write_hosts_files();
    start_gateway(name, j);
}

bool federation::wait_server_ready(server_proc& s, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (!s.proc->running() || s.proc->wait_exit(0ms)) return false;
        auto leader = get(s.dc, "/v1/status/leader", nullptr, s.index);
        if (leader.is_string() && !leader.get<std::string>().empty()) return true;
        std::this_thread::sleep_for(100ms);
    }
    return false;
}

bool federation::wait_gateway_registered(gateway_proc& g, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (!g.proc->running() || g.proc->wait_exit(0ms)) return false;
        auto j = get(g.dc, "/v1/catalog/service/mesh-gateway");
        if (j.is_array())
            for (const auto& e : j) {
                if (e.value("ServiceID", "") != g.id) continue;
                const auto& ta = e.value("ServiceTaggedAddresses", json::object());
                if (ta.contains("wan") && ta["wan"].value("Address", "") == g.wan_ip &&
                    ta["wan"].value("Port", 0) == g.port)
                    return true;
            }
        std::this_thread::sleep_for(100ms);
    }
    return false;
}

json federation::get(const std::string& name, const std::string& path, int* status, int i) {
    auto& d = dc(name);
    auto& s = d.servers.at(static_cast<std::size_t>(i));
    const std::string ip = s.ip;
    const int port = s.http_port;
    struct result {
        int status = 0;
        std::string body;
    };
    auto r = in_netns(d.ns, [&] {
        httplib::Client c(ip, port);
        c.set_connection_timeout(2, 0);
        c.set_read_timeout(10, 0);
        result out;
        if (auto res = c.Get(path)) {
            out.status = res->status;
            out.body = res->body;
        }
        return out;
    });
    if (status) *status = r.status;
    if (r.status != 200) return json();
    auto j = json::parse(r.body, nullptr, false);
    return j.is_discarded() ? json() : j;
}

command_result federation::verb(const std::string& name, const std::string& args, int i) {
    auto& d = dc(name);
    auto& s = d.servers.at(static_cast<std::size_t>(i));
    std::string prefix = d.ns.empty() ? "" : "ip netns exec " + d.ns + " ";
    return run_command("cd " + quote(run_dir_.string()) + " && " + prefix + meshfed_bin() + " " +
                       args + " -http-addr=http://" + s.http_addr());
}

std::string federation::metrics(const std::string& name, int i) {
    auto j = get(name, "/v1/agent/metrics", nullptr, i);
    return j.is_null() ? std::string() : j.dump();
}

bool federation::can_connect(const std::string& from_dc, const std::string& host, int port) {
    return in_netns(dc(from_dc).ns, [&] {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fd < 0) return false;
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
        bool ok = false;
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
            ok = true;
        } else if (errno == EINPROGRESS) {
            pollfd p{fd, POLLOUT, 0};
            int err = 0;
            socklen_t len = sizeof err;
            ok = ::poll(&p, 1, 2000) == 1 &&
                 ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
        }
        ::close(fd);
        return ok;
    });
}

bool federation::wan_status(const std::string& name, const std::string& member,
                            const std::string& status) {
    static const char* names[] = {"none", "alive", "leaving", "left", "failed"};
    auto j = get(name, "/v1/agent/members?wan=1");
    if (!j.is_array()) return false;
    for (const auto& m : j) {
        if (m.value("Name", "") != member) continue;
        int st = m.value("Status", 0);
        return st >= 0 && st <= 4 && status == names[st];
    }
    return false;
}

bool federation::wan_alive_everywhere(std::chrono::milliseconds limit) {
    const bool ok = meshfed::it::eventually(
        [&] {
            for (auto* viewer : all_servers())
                for (auto* s : all_servers())
                    if (!wan_status(viewer->dc, s->wan_name(), "alive")) return false;
            return true;
        },
        limit);
    phase(ok ? "every server alive in every members -wan"
             : "timed out waiting: every server alive in every members -wan");
    return ok;
}

bool federation::all_pairs_reachable(std::chrono::milliseconds limit, std::string* failing) {
    std::set<std::pair<std::string, std::string>> done;
    const bool ok = meshfed::it::eventually(
        [&] {
            for (auto& from : dcs_)
                for (auto& to : dcs_) {
                    if (from == to) continue;
                    auto key = std::make_pair(from->spec.name, to->spec.name);
                    if (done.count(key)) continue;
                    auto c = get(from->spec.name, "/v1/catalog/services?dc=" + to->spec.name);
                    if (!c.is_object() || !c.contains("consul")) {
                        if (failing) *failing = key.first + " -> " + key.second;
                        return false;
                    }
                    done.insert(key);
                }
            return true;
        },
        limit);
    phase(ok ? "catalog of every DC answered from every other DC"
             : "timed out waiting: catalog of every DC answered from every other DC");
    return ok;
}

bool federation::federation_states_complete(std::chrono::milliseconds limit) {
    const bool ok = meshfed::it::eventually(
        [&] {
            for (auto& d : dcs_) {
                auto j = get(d->spec.name, "/v1/internal/federation-states");
                if (!j.is_array()) return false;
                std::set<std::string> with_gateways;
                for (const auto& st : j)
                    if (st.contains("MeshGateways") && st["MeshGateways"].is_array() &&
                        !st["MeshGateways"].empty())
                        with_gateways.insert(st.value("Datacenter", ""));
                if (with_gateways.size() != dcs_.size()) return false;
            }
            return true;
        },
        limit);
    phase(ok ? "every DC holds every federation state"
             : "timed out waiting: every DC holds every federation state");
    return ok;
}

void federation::phase(const std::string& what) const {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - t0_)
                  .count();
    std::fprintf(stderr, "[harness +%lld.%01llds] %s\n", static_cast<long long>(ms / 1000),
                 static_cast<long long>(ms % 1000 / 100), what.c_str());
}

std::string federation::logs(std::size_t lines) const {
    std::string out;
    for (const auto& d : dcs_) {
        for (const auto& s : d->servers)
            out += "\n--- " + s.wan_name() + " (" + s.log_file().string() + ")\n" +
                   tail(s.log(), lines);
        for (const auto& g : d->gateways)
            out += "\n--- gateway " + g.id + " of " + g.dc + " (" + g.log_file.string() + ")\n" +
                   tail(g.log(), lines);
    }
    return out;
}

}  // namespace meshfed::harness
