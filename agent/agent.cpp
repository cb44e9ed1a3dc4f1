#include "agent/agent.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include "agent/http/agent_endpoints.hpp"
#include "agent/http/agent_services.hpp"
#include "agent/http/catalog_endpoints.hpp"
#include "agent/http/http_api.hpp"
#include "agent/http/metrics.hpp"
#include "agent/local_state.hpp"
#include "common/asio_compat.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "common/run_loop.hpp"
#include "common/version.hpp"
#include "mesh/federation.hpp"
#include "mesh/gateway_dialer.hpp"
#include "mesh/gateway_locator.hpp"
#include "rpc/command_log.hpp"
#include "rpc/conn_pool.hpp"
#include "rpc/endpoints.hpp"
#include "rpc/handler.hpp"
#include "rpc/router.hpp"
#include "rpc/server.hpp"
#include "rpc/state_store.hpp"
#include "tls/alpn.hpp"
#include "wan/pool.hpp"
#include "wan/wanfed.hpp"
#include "wan/wire/crypto.hpp"

namespace meshfed::agent {

int lock_data_dir(const std::string& data_dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(data_dir, ec)) {
        fs::create_directories(data_dir, ec);
        if (ec)
            throw agent_error(
                fmt::format("cannot create data_dir \"{}\": {}", data_dir, ec.message()));
        ::chmod(data_dir.c_str(), 0700);
    } else if (!fs::is_directory(data_dir, ec)) {
        throw agent_error(fmt::format("data_dir \"{}\" is not a directory", data_dir));
    }
    std::string lock_path = (fs::path(data_dir) / "meshfed.lock").string();
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        throw agent_error(
            fmt::format("cannot open lock file \"{}\": {}", lock_path, std::strerror(errno)));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char buf[32] = {};
        ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
        std::string holder = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "unknown";
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' '))
            holder.pop_back();
        ::close(fd);
        throw agent_error(
            fmt::format("data_dir \"{}\" is in use by another agent (pid {} holds {})", data_dir,
                        holder, lock_path));
    }
    std::string pid = fmt::format("{}\n", ::getpid());
    if (::ftruncate(fd, 0) == 0) {
        [[maybe_unused]] auto w = ::pwrite(fd, pid.data(), pid.size(), 0);
    }
    return fd;
}

namespace {

// Consul keeps a node ID (a UUID) in <data_dir>/node-id; servers carry it in the `id` tag.
std::string load_or_create_node_id(const std::string& data_dir) {
    namespace fs = std::filesystem;
    fs::path p = fs::path(data_dir) / "node-id";
    if (std::ifstream in(p); in) {
        std::string id;
        std::getline(in, id);
        if (id.size() == 36) return id;
    }
    std::random_device rd;
    std::uniform_int_distribution<int> d(0, 15);
    std::string id;
    for (int i = 0; i < 36; ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            id.push_back('-');
            continue;
        }
        int v = d(rd);
        if (i == 14) v = 4;            // version 4
        if (i == 19) v = 8 | (v & 3);  // RFC 4122 variant
        id.push_back("0123456789abcdef"[v]);
    }
    std::ofstream(p) << id << "\n";
    return id;
}

// The first private IPv4 address, as Consul picks one when bound to 0.0.0.0.
std::string first_private_ipv4() {
    for (const auto& addr : net::interface_addresses()) {
        if (!addr.is_v4()) continue;
        std::uint32_t a = addr.to_v4().to_uint();
        bool priv = (a >> 24) == 10 || (a >> 20) == 0xAC1 || (a >> 16) == 0xC0A8 ||
                    (a >> 17) == (0xC612 >> 1);  // 198.18.0.0/15 (test networks)
        if (priv) return addr.to_string();
    }
    return {};
}

// The serf tags a Consul server puts on its WAN member (consul-wanfed.md §9.2).
wan::tag_map server_tags(const config::runtime_config& c, const std::string& node_id) {
    wan::tag_map t;
    t["role"] = "consul";
    t["dc"] = c.datacenter;
    t["segment"] = "";
    t["id"] = node_id;
    t["vsn"] = "2";
    t["vsn_min"] = "2";
    t["vsn_max"] = "3";
    t["raft_vsn"] = "3";
    t["build"] = build_tag();
    t["port"] = std::to_string(c.ports.server);
    t["ft_fs"] = "1";
    t["ft_si"] = "1";
    if (c.bootstrap) t["bootstrap"] = "1";
    if (c.bootstrap_expect > 0) t["expect"] = std::to_string(c.bootstrap_expect);
    if (!c.tls.ca_file.empty()) t["use_tls"] = "1";
    return t;
}

}  // namespace

struct agent::impl {
    config::runtime_config cfg;
    std::vector<std::string> config_paths;
    config::load_options load_opts;
    asio::io_context io;
    asio::signal_set signals{io};
    std::shared_ptr<spdlog::logger> log = get_logger("agent");
    std::shared_ptr<tls::configurator> tls;
    std::unique_ptr<wan::pool> wan_pool;
    rpc::handler_registry handlers;
    rpc::state_store store;
    std::unique_ptr<rpc::command_log> state_log;
    std::unique_ptr<rpc::endpoints> endpoints;
    std::string node_id;
    std::unique_ptr<rpc::server> rpc_server;
    std::shared_ptr<rpc::router> router;
    std::shared_ptr<rpc::conn_pool> rpc_pool;
    std::string rpc_advertise;  // ip:port peers dial for RPC
    std::unique_ptr<http::http_api> http_api;
    // Federation states and WAN federation via mesh gateways.
    std::unique_ptr<mesh::gateway_locator> locator;
    std::unique_ptr<mesh::federation_states> federation;
    std::shared_ptr<mesh::gateway_dialer> gw_dialer;     // wanfed only
    std::shared_ptr<wan::wanfed::tunnel> gossip_tunnel;  // wanfed only
    // Inbound tunnelled packet connections (each may buffer up to a 4 MiB frame): bounded.
    static constexpr int max_gossip_packet_conns = 256;
    int gossip_packet_conns = 0;
    std::uint64_t gossip_packet_conns_refused = 0;
    std::shared_ptr<local_state> local;  // agent services and checks

    bool wanfed() const { return cfg.server && cfg.enable_mesh_gateway_wan_federation; }
    std::string primary_dc() const {
        return cfg.primary_datacenter.empty() ? cfg.datacenter : cfg.primary_datacenter;
    }
    int lock_fd = -1;
    bool stopping = false;
    bool wan_left = false;  // PUT /v1/agent/leave already left the WAN pool

    // The RPC port: bound first, so the WAN tags carry the real port (port 0 in tests).
    void start_rpc() {
        const auto& c = cfg;
        if (!c.server) return;
        router = std::make_shared<rpc::router>(c.datacenter);
        // The catalog: recovered from <data_dir>/state (snapshot + command log) before serving.
        rpc::recovery_report report;
        auto opened =
            rpc::command_log::open({std::filesystem::path(c.data_dir) / "state"}, store, &report);
        if (!opened)
            throw agent_error(fmt::format("cannot open the state in {}/state: {}", c.data_dir,
                                          opened.error().message));
        state_log = std::move(*opened);
        for (const auto& w : report.warnings) log->warn("state: {}", w);
        log->info("state: recovered index {} (snapshot {} at {}, {} log records replayed)",
                  store.last_index(), report.had_snapshot ? "yes" : "no", report.snapshot_index,
                  report.replayed);
        locator = std::make_unique<mesh::gateway_locator>(c.datacenter, primary_dc(),
                                                          std::random_device{}());
        rpc::dialer_fn dialer = rpc::classic_dialer(io.get_executor(), tls);
        if (wanfed()) {
            // Other datacenters only through mesh gateways (Consul: DialRPCViaMeshGateway).
            gw_dialer = std::make_shared<mesh::gateway_dialer>(
                io.get_executor(), tls,
                [this](const std::string& dc) { return locator->pick_gateway(dc); });
            dialer = [classic = std::move(dialer), via = gw_dialer->rpc_dialer(),
                      local = c.datacenter](rpc::server_info t) {
                return t.dc == local ? classic(std::move(t)) : via(std::move(t));
            };
        }
        rpc_pool = std::make_shared<rpc::conn_pool>(io.get_executor(), std::move(dialer));
        rpc_server =
            std::make_unique<rpc::server>(io.get_executor(), handlers, c.datacenter, c.limits, tls);
        if (auto ec = rpc_server->listen(c.bind_addr, static_cast<std::uint16_t>(c.ports.server)))
            throw agent_error(fmt::format("cannot bind the RPC port {}:{}: {}", c.bind_addr,
                                          c.ports.server, ec.message()));
        rpc_server->set_forwarder([this](std::string dc, std::string method,
                                         std::vector<std::uint8_t> body, rpc::reply_fn reply) {
            forward(std::move(dc), std::move(method), std::move(body), std::move(reply));
        });
        std::string ip = c.advertise_addr.empty() ? c.bind_addr : c.advertise_addr;
        if (ip == "0.0.0.0" || ip == "::") ip = first_private_ipv4();
        rpc_advertise = fmt::format("{}:{}", ip, rpc_server->port());
        rpc::endpoints_config ec;
        ec.datacenter = c.datacenter;
        ec.rpc_address = rpc_advertise;
        ec.primary_datacenter = c.primary_datacenter;
        endpoints = std::make_unique<rpc::endpoints>(io.get_executor(), store, ec);
        endpoints->set_commit([this](const rpc::command& cmd) { return state_log->commit(cmd); });
        endpoints->set_datacenters([this] { return sorted_datacenters(); });
        endpoints->set_forwarder([this](std::string dc, std::string method,
                                        std::vector<std::uint8_t> body, rpc::reply_fn reply) {
            forward(std::move(dc), std::move(method), std::move(body), std::move(reply));
        });
        endpoints->register_handlers(handlers);
        node_id = load_or_create_node_id(c.data_dir);
        // Every server is its own leader for now, and registers itself as Consul's leader does.
        if (auto r = endpoints->register_self(c.node_name, ip, c.datacenter, rpc_server->port(),
                                              node_id);
            !r)
            log->error("catalog: cannot register this server as service consul");
        rpc_server->start();
        start_federation();
        asio::co_spawn(io, rebalance_loop(), asio::detached);
        log->info("rpc: serving on {}:{} (TCP; TLS {}, verify_incoming {})", c.bind_addr,
                  rpc_server->port(), tls && tls->enabled() ? "on" : "off",
                  tls && tls->verify_incoming());
    }

    // Datacenters by median RTT from our Vivaldi coordinate to each DC's servers, local first.
    std::vector<std::string> sorted_datacenters() {
        if (!router) return {cfg.datacenter};
        if (!wan_pool) return router->datacenters();
        const auto& serf = wan_pool->serf_layer();
        auto self = serf.coordinate_of(serf.name());
        return router->datacenters(
            [&](const rpc::server_info& s) -> std::optional<std::chrono::duration<double>> {
                if (!self) return std::nullopt;
                auto other = serf.coordinate_of(s.name + "." + s.dc);
                if (!other) return std::nullopt;
                auto d = wan::distance_between(*self, *other);
                if (!d) return std::nullopt;
                return std::chrono::duration<double>(*d);
            });
    }

    // A call for another datacenter: first server of that DC (rotated on failure).
    void forward(std::string dc, std::string method, std::vector<std::uint8_t> body,
                 rpc::reply_fn reply) {
        auto target = router->route(dc);
        if (!target) {
            reply(target.error(), {0x80});
            return;
        }
        auto timeout =
            rpc::server::call_timeout(rpc::server::peek_request(body), cfg.limits.client_timeout);
        asio::co_spawn(
            io,
            [this, t = *target, method = std::move(method), body = std::move(body),
             reply = std::move(reply), timeout]() mutable -> asio::awaitable<void> {
                auto r = co_await rpc_pool->call(t, method, std::move(body), timeout);
                if (r) {
                    reply(std::move(r->error), std::move(r->body));
                    co_return;
                }
                router->failed(t);
                log->warn("rpc: forwarding {} to datacenter {} failed: {}", method, t.dc,
                          r.error());
                reply(r.error(), {0x80});
            },
            asio::detached);
    }

    // Consul's server manager: shuffle each datacenter's servers now and then, and make sure the
    // one in front answers Status.Ping (a silent one goes to the back).
    asio::awaitable<void> rebalance_loop() {
        asio::steady_timer t(io);
        while (!stopping) {
            t.expires_after(std::chrono::minutes(2));
            co_await t.async_wait(nothrow_awaitable);
            if (stopping || !router) co_return;
            router->rebalance();
            for (const auto& dc : router->datacenters()) {
                if (dc == cfg.datacenter) continue;
                auto first = router->route(dc);
                if (!first) continue;
                std::vector<std::uint8_t> empty_args{0x80};
                auto r = co_await rpc_pool->call(*first, "Status.Ping", std::move(empty_args),
                                                 std::chrono::seconds(10));
                if (!r || !r->error.empty()) {
                    log->warn(
                        "rpc: server {} of datacenter {} ({}) did not answer Status.Ping; "
                        "trying the next one",
                        first->name, dc, first->addr());
                    router->failed(*first);
                }
            }
        }
    }

    // Every alive Consul server in the WAN pool, for the router.
    void update_router() {
        if (!router || !wan_pool) return;
        std::vector<rpc::server_info> servers;
        for (const auto& m : wan_pool->members()) {
            const bool alive = m.status == wan::member_status::alive;
            if (!alive && m.status != wan::member_status::failed) continue;
            auto tag = [&](const char* k) -> std::string {
                auto it = m.tags.find(k);
                return it == m.tags.end() ? std::string() : it->second;
            };
            if (tag("role") != "consul" || tag("dc").empty()) continue;
            int port = std::atoi(tag("port").c_str());
            if (port <= 0 || port > 65535) continue;
            std::string name = m.name;
            std::string suffix = "." + tag("dc");
            if (name.ends_with(suffix)) name.resize(name.size() - suffix.size());
            std::string ip = m.addr.to_string();
            ip = ip.substr(0, ip.rfind(':'));
            if (!ip.empty() && ip.front() == '[') ip = ip.substr(1, ip.size() - 2);
            servers.push_back({name, tag("dc"), ip, static_cast<std::uint16_t>(port),
                               tag("use_tls") == "1", alive});
        }
        router->set_servers(servers);
    }

    // Federation states (consul-wanfed.md §6): anti-entropy of our mesh gateways into the
    // primary, replication of every DC's state from the primary, the locator's refresh.
    void start_federation() {
        mesh::federation_config fc;
        fc.datacenter = cfg.datacenter;
        fc.primary_datacenter = primary_dc();
        federation = std::make_unique<mesh::federation_states>(
            io.get_executor(), fc,
            [this](std::string dc, std::string method, std::vector<std::uint8_t> body,
                   rpc::reply_fn reply) {
                http_rpc(std::move(dc), std::move(method), std::move(body), std::move(reply));
            },
            [this](rpc::federation_state_request req) -> std::expected<void, std::string> {
                rpc::command cmd = std::move(req);
                if (auto v = store.validate(cmd); !v) return std::unexpected(v.error().message);
                if (auto r = state_log->commit(cmd); !r) return std::unexpected(r.error().message);
                return {};
            },
            [this] { return router ? router->datacenters() : std::vector<std::string>{}; },
            *locator);
        federation->start();  // this server is its datacenter's leader
    }

    // One inbound consul/wan-gossip/packet connection, counted against the cap.
    asio::awaitable<void> serve_gossip_packets(std::unique_ptr<byte_stream> s) {
        ++gossip_packet_conns;
        co_await wan::wanfed::serve_packet_conn(
            std::move(s),
            [this](std::span<const std::uint8_t> d) {
                if (wan_pool) wan_pool->io().ingest_packet({}, d);
            },
            gossip_tunnel);
        --gossip_packet_conns;
    }

    // wanfed: packets and streams that arrived on the RPC port by ALPN go to the WAN pool.
    void install_gossip_hooks() {
        rpc_server->set_gossip_hooks(
            [this](std::unique_ptr<byte_stream> s) {
                if (gossip_packet_conns >= max_gossip_packet_conns) {
                    ++gossip_packet_conns_refused;
                    log->warn("rpc: refusing a {} connection: {} already open",
                              tls::alpn::wan_gossip_packet, gossip_packet_conns);
                    s->close();
                    return;
                }
                asio::co_spawn(io, serve_gossip_packets(std::move(s)), asio::detached);
            },
            [this](std::unique_ptr<byte_stream> s) {
                if (wan_pool)
                    wan_pool->io().ingest_stream(std::move(s), {});
                else
                    s->close();
            });
    }

    // Consul's primary_gateways handling in a secondary (retry_join.go): resolve the entries
    // every primary_gateways_interval into the locator's fallback list. Names resolve to IPv4
    // with a 2 s limit, as Consul's. Unlike Consul, which stops once replication has delivered
    // the primary's gateways, this keeps going: when every primary gateway moves to a new
    // address behind the same name, the replicated state only names dead gateways and the
    // re-resolved fallback is the way back in. A name that fails to resolve keeps its last
    // addresses.
    asio::awaitable<void> refresh_primary_gateways() {
        using namespace asio::experimental::awaitable_operators;
        asio::steady_timer t(io);
        asio::ip::tcp::resolver resolver(io);
        std::map<std::string, std::vector<std::string>> last_good;
        while (!stopping && locator) {
            std::vector<std::string> addrs;
            for (const auto& entry : cfg.primary_gateways) {
                if (net::parse_ip_port(entry)) {
                    addrs.push_back(entry);
                    continue;
                }
                auto colon = entry.rfind(':');
                std::string host = colon == std::string::npos ? entry : entry.substr(0, colon);
                std::string port = colon == std::string::npos ? "443" : entry.substr(colon + 1);
                asio::steady_timer limit(io);
                limit.expires_after(std::chrono::seconds(2));
                auto r = co_await (
                    resolver.async_resolve(asio::ip::tcp::v4(), host, port, nothrow_awaitable) ||
                    limit.async_wait(nothrow_awaitable));
                std::string problem;
                if (r.index() == 1) {
                    problem = "timed out after 2s";
                } else if (auto& [ec, results] = std::get<0>(r); ec) {
                    problem = ec.message();
                } else {
                    std::vector<std::string> found;
                    for (const auto& e : results)
                        found.push_back(fmt::format("{}:{}", e.endpoint().address().to_string(),
                                                    e.endpoint().port()));
                    last_good[entry] = found;
                }
                if (!problem.empty()) {
                    const auto& kept = last_good[entry];
                    log->warn("primary_gateways: resolving {} failed ({}); {}", entry, problem,
                              kept.empty() ? std::string("skipped this round")
                                           : fmt::format("kept [{}]", fmt::join(kept, ", ")));
                }
                const auto& use = last_good[entry];
                addrs.insert(addrs.end(), use.begin(), use.end());
            }
            std::sort(addrs.begin(), addrs.end());
            addrs.erase(std::unique(addrs.begin(), addrs.end()), addrs.end());
            // The locator logs the list when it changes.
            if (addrs.empty())
                log->error("No mesh gateways found in primary_gateways [{}]",
                           fmt::join(cfg.primary_gateways, ", "));
            locator->refresh_primary_fallback(std::move(addrs));
            t.expires_after(cfg.primary_gateways_interval);
            co_await t.async_wait(nothrow_awaitable);
        }
    }

    // A secondary's first contact: any server of the primary ("*.<primary>"), through the
    // primary's gateways. Waits until the locator has something to offer (its first refresh of
    // the local federation states, and the first resolution of primary_gateways).
    asio::awaitable<void> join_primary() {
        asio::steady_timer t(io);
        for (int i = 0; i < 100 && !stopping && locator &&
                        (!locator->populated() || locator->candidates(primary_dc()).empty());
             ++i) {
            t.expires_after(std::chrono::milliseconds(100));
            co_await t.async_wait(nothrow_awaitable);
        }
        if (stopping) co_return;
        // A named vector: g++ 12 mishandles braced temporaries in co_await expressions.
        std::vector<std::string> any_primary_server{"*." + primary_dc() + "/192.0.2.2"};
        co_await retry_join_wan(std::move(any_primary_server));
    }

    void start_wan() {
        const auto& c = cfg;
        if (!c.server || c.ports.serf_wan < 0) return;
        wan::pool_config pc;
        pc.name = c.node_name + "." + c.datacenter;
        pc.bind_addr = c.bind_addr;
        pc.port = static_cast<std::uint16_t>(c.ports.serf_wan);
        pc.advertise_addr = c.advertise_addr_wan;
        if (pc.advertise_addr.empty() && (c.bind_addr == "0.0.0.0" || c.bind_addr == "::")) {
            pc.advertise_addr = first_private_ipv4();
            if (pc.advertise_addr.empty())
                throw agent_error(
                    "no private IPv4 address found to advertise on the WAN; set "
                    "advertise_addr_wan or bind_addr");
        }
        pc.timing = c.gossip_wan;
        pc.label = c.gossip_wan.label;
        pc.tags = server_tags(c, node_id.empty() ? load_or_create_node_id(c.data_dir) : node_id);
        if (rpc_server) pc.tags["port"] = std::to_string(rpc_server->port());
        pc.on_member = [this](wan::member_event_type, const wan::member&) { update_router(); };
        if (wanfed()) {
            gossip_tunnel = std::make_shared<wan::wanfed::tunnel>(io.get_executor(), c.datacenter,
                                                                  gw_dialer->gossip_dialer());
            pc.tunnel = gossip_tunnel;
            install_gossip_hooks();
        }
        pc.keyring_file = std::filesystem::path(c.data_dir) / "serf" / "remote.keyring";
        if (!c.encrypt.empty()) {
            auto key = wan::wire::decode_base64_key(c.encrypt);
            if (!key) throw agent_error("encrypt has invalid key");
            pc.initial_keys.push_back(std::move(*key));
        }
        pc.verify_incoming = c.encrypt_verify_incoming;
        pc.verify_outgoing = c.encrypt_verify_outgoing;
        wan_pool = std::make_unique<wan::pool>(io.get_executor(), pc);
        if (auto r = wan_pool->start(); !r) throw agent_error(r.error());
        update_router();
        if (wanfed() && primary_dc() != c.datacenter) {
            // First contact: any server of the primary, through its mesh gateways.
            asio::co_spawn(io, refresh_primary_gateways(), asio::detached);
            asio::co_spawn(io, join_primary(), asio::detached);
        } else if (!c.retry_join_wan.empty()) {
            asio::co_spawn(io, retry_join_wan(c.retry_join_wan), asio::detached);
        }
    }

    // An RPC from the HTTP API: the local handler table, or the forwarder for another
    // datacenter, the same paths calls from the network take.
    void http_rpc(std::string dc, std::string method, std::vector<std::uint8_t> body,
                  rpc::reply_fn reply) {
        if (!endpoints) return reply("No known Consul servers", {0x80});
        if (dc.empty() || dc == cfg.datacenter) {
            handlers.dispatch(method, body, std::move(reply));
            return;
        }
        forward(std::move(dc), std::move(method), std::move(body), std::move(reply));
    }

    wan::member lan_member() {
        wan::member m;
        m.name = cfg.node_name;
        std::string ip = cfg.advertise_addr.empty() ? cfg.bind_addr : cfg.advertise_addr;
        if (ip == "0.0.0.0" || ip == "::") ip = first_private_ipv4();
        const int port = cfg.ports.serf_lan > 0 ? cfg.ports.serf_lan : 0;
        if (auto a = wan::node_addr::parse(ip, static_cast<std::uint16_t>(port))) m.addr = *a;
        m.tags = server_tags(cfg, node_id);
        if (rpc_server) m.tags["port"] = std::to_string(rpc_server->port());
        m.status = wan::member_status::alive;
        if (wan_pool) {
            auto self = wan_pool->serf_layer().local_member();
            m.protocol_min = self.protocol_min;
            m.protocol_max = self.protocol_max;
            m.protocol_cur = self.protocol_cur;
            m.delegate_min = self.delegate_min;
            m.delegate_max = self.delegate_max;
            m.delegate_cur = self.delegate_cur;
        }
        return m;
    }

    // GET /v1/agent/self: Config, Member, Stats (string values, as Consul), Meta.
    nlohmann::json agent_self() {
        nlohmann::json j;
        j["Config"] = {
            {"Datacenter", cfg.datacenter}, {"PrimaryDatacenter", cfg.primary_datacenter},
            {"NodeName", cfg.node_name},    {"NodeID", node_id},
            {"Revision", build_tag()},      {"Server", cfg.server},
            {"Version", version()}};
        j["Member"] = http::member_json(lan_member());
        j["Meta"] = {{"consul-network-segment", ""}};
        // The few DebugConfig fields clients read (the mesh gateway: the DNS domain).
        j["DebugConfig"] = {{"DNSDomain", cfg.domain},
                            {"PrimaryDatacenter", primary_dc()},
                            {"PrimaryGateways", cfg.primary_gateways},
                            {"ConnectMeshGatewayWANFederationEnabled", wanfed()}};
        auto str = [](auto v) { return fmt::format("{}", v); };
        nlohmann::json stats;
        stats["agent"] = {{"check_monitors", "0"},
                          {"check_ttls", str(local ? local->ttl_checks() : 0)},
                          {"checks", str(local ? local->checks().size() : 0)},
                          {"services", str(local ? local->services().size() : 0)}};
        stats["build"] = {{"version", version()}, {"revision", build_tag()}, {"prerelease", ""}};
        stats["consul"] = {{"server", cfg.server ? "true" : "false"},
                           {"leader", endpoints ? "true" : "false"},
                           {"leader_addr", rpc_advertise},
                           {"bootstrap", cfg.bootstrap ? "true" : "false"},
                           {"known_datacenters", str(sorted_datacenters().size())}};
        if (endpoints) {
            stats["raft"] = {{"last_log_index", str(store.last_index())},
                             {"applied_index", str(store.last_index())},
                             {"state", "Leader"},
                             {"num_peers", "0"}};
        }
        if (wan_pool) {
            auto s = wan_pool->serf_layer().stats();
            stats["serf_wan"] = {{"members", str(s.members)},
                                 {"failed", str(s.failed)},
                                 {"left", str(s.left)},
                                 {"member_time", str(s.member_time)},
                                 {"event_time", str(s.event_time)},
                                 {"query_time", str(s.query_time)},
                                 {"intent_queue", str(s.intent_queue)},
                                 {"event_queue", str(s.event_queue)},
                                 {"query_queue", str(s.query_queue)},
                                 {"encrypted", s.encrypted ? "true" : "false"}};
        }
        stats["runtime"] = {{"os", "linux"},
                            {"cpu_count", str(std::thread::hardware_concurrency())}};
        j["Stats"] = std::move(stats);
        return j;
    }

    http::agent_control agent_control() {
        http::agent_control ctl;
        ctl.self = [this] { return agent_self(); };
        ctl.lan_member = [this] { return lan_member(); };
        if (cfg.enable_mesh_gateway_wan_federation)
            ctl.join_wan_disabled =
                "WAN join is disabled when wan federation via mesh gateways is enabled";
        if (wan_pool) {
            ctl.wan_members = [this] { return wan_pool->members(); };
            ctl.join_wan = [this](std::string addr,
                                  std::function<void(int, std::vector<std::string>)> done) {
                log->info("(WAN) join requested over HTTP: address={}", addr);
                wan_pool->join({addr}, std::move(done));
            };
            ctl.force_leave_wan = [this](std::string node,
                                         bool prune) -> std::expected<void, std::string> {
                log->info("(WAN) force-leave requested over HTTP: node={} prune={}", node, prune);
                auto r = wan_pool->serf_layer().force_leave(wan::clock::now(), node, prune);
                wan_pool->kick();
                return r;
            };
            ctl.key_operation = [this](wan::key_op op, std::string key,
                                       std::function<void(const wan::key_response_summary&)> done)
                -> std::expected<void, std::string> {
                auto r = wan_pool->serf_layer().key_operation(wan::clock::now(), op, key,
                                                              std::move(done));
                wan_pool->kick();
                return r;
            };
        }
        ctl.leave = [this](std::function<void()> left) {
            log->info("graceful leave requested over HTTP: node={} datacenter={}", cfg.node_name,
                      cfg.datacenter);
            asio::co_spawn(
                io,
                [this, left = std::move(left)]() -> asio::awaitable<void> {
                    if (wan_pool && !wan_left) co_await wan_pool->leave();
                    wan_left = true;
                    left();
                    // Let the reply reach the client before the listener closes.
                    asio::steady_timer t(io);
                    t.expires_after(std::chrono::milliseconds(200));
                    co_await t.async_wait(nothrow_awaitable);
                    shutdown(true);
                },
                asio::detached);
        };
        return ctl;
    }

    // Services and checks registered with this agent, synced to its own catalog.
    void start_local_state() {
        local_state_config lc;
        lc.node_name = cfg.node_name;
        lc.node_id = node_id;
        lc.datacenter = cfg.datacenter;
        lc.address = rpc_advertise.substr(0, rpc_advertise.rfind(':'));
        lc.data_dir = cfg.data_dir;
        local = std::make_shared<local_state>(
            io, lc,
            [this](std::string dc, std::string method, std::vector<std::uint8_t> body,
                   rpc::reply_fn reply) {
                http_rpc(std::move(dc), std::move(method), std::move(body), std::move(reply));
            });
        local->start();
    }

    // What /v1/agent/metrics reads; each source is empty when the module is absent.
    http::stats_sources stats_sources() {
        http::stats_sources s;
        s.memberlist = [this]() -> std::optional<wan::memberlist_stats> {
            if (!wan_pool) return std::nullopt;
            return wan_pool->memberlist_layer().stats();
        };
        s.transport = [this]() -> std::optional<wan::transport_stats> {
            if (!wan_pool) return std::nullopt;
            return wan_pool->transport_statistics();
        };
        s.serf = [this]() -> std::optional<wan::serf_stats> {
            if (!wan_pool) return std::nullopt;
            return wan_pool->serf_layer().stats();
        };
        s.rpc_server = [this]() -> std::optional<rpc::server_stats> {
            if (!rpc_server) return std::nullopt;
            return rpc_server->stats();
        };
        s.rpc_endpoints = [this]() -> std::optional<rpc::endpoint_stats> {
            if (!endpoints) return std::nullopt;
            return endpoints->stats();
        };
        s.rpc_pool = [this]() -> std::optional<rpc::pool_stats> {
            if (!rpc_pool) return std::nullopt;
            return rpc_pool->stats();
        };
        s.tunnel = [this]() -> std::optional<wan::wanfed::tunnel_stats> {
            if (!gossip_tunnel) return std::nullopt;
            return gossip_tunnel->stats();
        };
        s.dialer = [this]() -> std::optional<mesh::dialer_stats> {
            if (!gw_dialer) return std::nullopt;
            return gw_dialer->stats();
        };
        s.local = [this]() -> std::optional<local_state_stats> {
            if (!local) return std::nullopt;
            return local->stats();
        };
        s.http = [this]() -> std::optional<http::http_stats> {
            if (!http_api) return std::nullopt;
            return http_api->stats();
        };
        s.extra = [this] {
            std::vector<http::metric> out;
            if (local) {
                out.push_back({"consul.meshfed.agent.services",
                               http::metric_kind::gauge,
                               static_cast<double>(local->services().size()),
                               {},
                               "Services registered with this agent"});
                out.push_back({"consul.meshfed.agent.checks",
                               http::metric_kind::gauge,
                               static_cast<double>(local->checks().size()),
                               {},
                               "Checks registered with this agent"});
            }
            out.push_back({"consul.meshfed.catalog.index",
                           http::metric_kind::gauge,
                           static_cast<double>(store.last_index()),
                           {},
                           "The catalog's last applied index"});
            return out;
        };
        return s;
    }

    void start_http() {
        const auto& c = cfg;
        if (c.ports.http < 0 && c.ports.https <= 0) return;
        http::http_config hc;
        hc.bind_addr = c.client_addr;
        hc.port = c.ports.http;
        hc.datacenter = c.datacenter;
        if (c.ports.https > 0) {
            // Consul's IncomingHTTPSConfig has the RPC port's client-certificate policy
            // (required with verify_incoming, verified when presented otherwise): share it.
            hc.https_port = c.ports.https;
            hc.https_context = [t = tls] { return t ? t->incoming_rpc() : nullptr; };
        }
        http_api = std::make_unique<http::http_api>(
            io, hc,
            [this](std::string dc, std::string method, std::vector<std::uint8_t> body,
                   rpc::reply_fn reply) {
                http_rpc(std::move(dc), std::move(method), std::move(body), std::move(reply));
            });
        http::register_catalog_endpoints(*http_api);
        http::register_agent_endpoints(*http_api, agent_control());
        start_local_state();
        http::register_agent_service_endpoints(*http_api, local);
        http::register_metrics_endpoint(*http_api, stats_sources());
        if (auto r = http_api->start(); !r) throw agent_error(r.error());
    }

    // Consul's retry_join_wan: keep trying every retry_interval_wan until one join works.
    asio::awaitable<void> retry_join_wan(std::vector<std::string> addrs) {
        asio::steady_timer t(io);
        for (int attempt = 1; !stopping && wan_pool; ++attempt) {
            auto result = std::make_shared<std::pair<int, std::vector<std::string>>>(
                -1, std::vector<std::string>{});
            auto answered = std::make_shared<asio::steady_timer>(io);
            answered->expires_after(cfg.gossip_wan.tcp_timeout + std::chrono::seconds(1));
            wan_pool->join(addrs, [result, answered](int n, std::vector<std::string> errs) {
                *result = {n, std::move(errs)};
                answered->cancel();
            });
            co_await answered->async_wait(nothrow_awaitable);
            if (result->first > 0) {
                log->info("(WAN) joined: number_of_nodes={}", result->first);
                co_return;
            }
            log->warn(
                "(WAN) couldn't join: number_of_nodes=0 attempt={} addresses=[{}] error=\"{}\"",
                attempt, fmt::join(addrs, ", "),
                result->second.empty() ? "no answer"
                                       : fmt::format("{}", fmt::join(result->second, "; ")));
            t.expires_after(cfg.retry_interval_wan);
            co_await t.async_wait(nothrow_awaitable);
        }
    }

    void wait_signal() {
        signals.async_wait([this](std::error_code ec, int sig) {
            if (ec) return;
            if (sig == SIGHUP) {
                reload();
                wait_signal();
                return;
            }
            log->info("caught signal: {}", sig == SIGINT ? "interrupt" : "terminated");
            // Consul: servers keep their membership on both signals unless configured
            // otherwise, so peers see them failed and reconnect once they are back.
            const bool leave = sig == SIGINT ? !cfg.skip_leave_on_interrupt.value_or(cfg.server)
                                             : cfg.leave_on_terminate.value_or(!cfg.server);
            shutdown(leave);
        });
    }

    // SIGHUP: re-read the config; a bad config is reported and the running one kept.
    void reload() {
        log->info("reloading configuration from {}", fmt::join(config_paths, ", "));
        auto r = config::load_config(config_paths, load_opts);
        if (!r.ok()) {
            for (const auto& e : r.errors) log->error("config reload failed: {}", e);
            log->error("configuration reload failed; keeping the running configuration");
            return;
        }
        if (auto lvl = parse_log_level(r.config.log_level)) {
            spdlog::apply_all(
                [&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(*lvl); });
            cfg.log_level = r.config.log_level;
        }
        log->info("configuration reloaded (log_level={})", cfg.log_level);
        if (tls && tls->enabled()) {
            auto errs = tls->reload();
            for (const auto& e : errs) log->error("TLS reload failed: {}", e);
            if (errs.empty()) {
                log->info("TLS certificates reloaded: cert_file={} key_file={} ca_file={}",
                          cfg.tls.cert_file, cfg.tls.key_file, cfg.tls.ca_file);
            } else {
                log->error(
                    "TLS reload failed; new connections keep using the previous certificates");
            }
        }
    }

    // `leave`: leave the WAN pool gracefully first (peers record us as left, not failed).
    void shutdown(bool leave) {
        if (stopping) return;
        stopping = true;
        log->info("shutting down agent: node={} datacenter={}{}", cfg.node_name, cfg.datacenter,
                  wan_pool && !wan_left && !leave
                      ? " (without leaving the WAN pool: leave_on_terminate / "
                        "skip_leave_on_interrupt)"
                      : "");
        signals.cancel();
        if (endpoints) endpoints->release_parked();
        if (federation) federation->stop();
        if (local) local->stop();
        if (http_api) http_api->stop();
        if (rpc_server) rpc_server->stop();
        if (rpc_pool) rpc_pool->close_all();
        if (!wan_pool || wan_left || !leave) {
            if (gossip_tunnel) gossip_tunnel->stop();
            io.stop();
            return;
        }
        asio::co_spawn(
            io,
            [this]() -> asio::awaitable<void> {
                co_await wan_pool->leave();  // through the gossip tunnel too
                if (gossip_tunnel) gossip_tunnel->stop();
                io.stop();
            },
            asio::detached);
    }
};

agent::agent(config::runtime_config cfg, std::vector<std::string> config_paths,
             config::load_options opts)
    : impl_(std::make_unique<impl>()) {
    impl_->cfg = std::move(cfg);
    impl_->config_paths = std::move(config_paths);
    impl_->load_opts = std::move(opts);
}

agent::~agent() {
    if (impl_ && impl_->lock_fd >= 0) ::close(impl_->lock_fd);
}

std::expected<std::shared_ptr<tls::configurator>, std::vector<std::string>> agent::make_tls(
    const config::runtime_config& cfg) {
    tls::agent_identity id{cfg.datacenter, cfg.domain, cfg.node_name, cfg.server,
                           cfg.enable_mesh_gateway_wan_federation};
    return tls::configurator::create(cfg.tls, id);
}

void agent::stop() {
    asio::post(impl_->io, [this] { impl_->shutdown(true); });
}

int agent::run() {
    auto& s = *impl_;
    const auto& c = s.cfg;
    auto tls = make_tls(c);
    if (!tls) {
        std::string all;
        for (const auto& e : tls.error()) all += "\n\t* " + e;
        throw agent_error(fmt::format("TLS configuration is invalid:{}", all));
    }
    s.tls = *tls;
    s.lock_fd = lock_data_dir(c.data_dir);
    // Connection caps (rpc_max_conns_per_client, the HTTP limit) should bind before the default
    // 1024 descriptors do.
    if (auto fl = net::raise_fd_limit())
        s.log->debug("open file limit: {} (was {})", fl->after, fl->before);
    else
        s.log->warn("could not raise the open file limit: {}", fl.error().message());
    s.start_rpc();
    s.start_wan();
    s.start_http();
    s.signals.add(SIGINT);
    s.signals.add(SIGTERM);
    s.signals.add(SIGHUP);
    s.wait_signal();

    std::string advertise = c.advertise_addr.empty() ? c.bind_addr : c.advertise_addr;
    // The same banner a Consul operator reads at startup.
    fmt::print(
        "==> Starting meshfed agent...\n"
        "           Version: '{}'\n"
        "         Node name: '{}'\n"
        "        Datacenter: '{}' (Primary: '{}')\n"
        "            Server: {} (Bootstrap: {})\n"
        "       Client Addr: [{}] (HTTP: {}, HTTPS: {})\n"
        "      Cluster Addr: {} (LAN: {}, WAN: {})\n"
        "          Data Dir: '{}'\n"
        "      Gossip Encryption: {}, TLS: {}, WAN federation via mesh gateways: {}\n\n",
        version(), c.node_name, c.datacenter, c.primary_datacenter, c.server,
        c.bootstrap || c.bootstrap_expect == 1, c.client_addr,
        s.http_api && s.http_api->port() ? s.http_api->port() : c.ports.http, c.ports.https,
        advertise, c.ports.serf_lan, c.ports.serf_wan, c.data_dir, !c.encrypt.empty(),
        c.tls.has_identity(), c.enable_mesh_gateway_wan_federation);
    std::fflush(stdout);
    s.log->info(
        "meshfed agent running: version={} node={} datacenter={} server={} bind_addr={} "
        "advertise_addr_wan={} ports: server={} serf_wan={} http={} data_dir={} pid={}",
        version(), c.node_name, c.datacenter, c.server, c.bind_addr,
        c.advertise_addr_wan.empty() ? advertise : c.advertise_addr_wan, c.ports.server,
        s.wan_pool ? s.wan_pool->port() : c.ports.serf_wan, c.ports.http, c.data_dir, ::getpid());
    // The RPC port's latency: see common/run_loop.hpp (performance.rpc_busy_poll).
    run_with_busy_poll(s.io, c.rpc_busy_poll);
    s.log->info("agent stopped: node={} datacenter={}", c.node_name, c.datacenter);
    return 0;
}

}  // namespace meshfed::agent
