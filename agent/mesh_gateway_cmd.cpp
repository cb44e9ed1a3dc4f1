#include "agent/mesh_gateway_cmd.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <ostream>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <nlohmann/json.hpp>

#include "agent/http/http_api.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "mesh/gateway_proxy.hpp"
#include "mesh/gateway_routes.hpp"

namespace meshfed::agent {
namespace {

constexpr int default_gateway_port = 8443;  // Consul's defaultGatewayPort

struct host_port {
    std::string host;
    int port = 0;
};

// Consul's parseAddress: "ip:port", ":port" or "ip" (port 8443); the error is Go's text.
std::expected<host_port, std::string> parse_address(const std::string& s) {
    if (s.empty()) return host_port{"", default_gateway_port};
    auto colon = s.rfind(':');
    if (colon == std::string::npos || (s.front() == '[' && s.back() == ']'))
        return host_port{s, default_gateway_port};
    std::string host = s.substr(0, colon), port = s.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    int p = 0;
    for (char c : port) {
        if (c < '0' || c > '9' || p > 65535)
            return std::unexpected(
                fmt::format("strconv.Atoi: parsing \"{}\": invalid syntax", port));
        p = p * 10 + (c - '0');
    }
    if (port.empty() || p > 65535)
        return std::unexpected(fmt::format("strconv.Atoi: parsing \"{}\": invalid syntax", port));
    return host_port{host, p};
}

// An IP literal assigned to an interface of this host (all of 127/8 counts on Linux).
bool is_local_ip(const std::string& host) {
    std::error_code ec;
    auto a = asio::ip::make_address(host, ec);
    if (ec) return false;
    if (a.is_loopback()) return true;
    for (const auto& local : net::interface_addresses())
        if (local == a) return true;
    return false;
}

std::string join_host_port(const std::string& host, int port) {
    return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                               : fmt::format("{}:{}", host, port);
}

}  // namespace

std::optional<std::string> check_mesh_gateway_flags(mesh_gateway_options& o) {
    if (o.mesh_gateway && !o.gateway.empty())
        return "The mesh-gateway flag is deprecated and cannot be used alongside the gateway flag";
    if (o.mesh_gateway) o.gateway = "mesh";
    if (o.expose_servers) {
        if (o.gateway != "mesh") return "'-expose-servers' can only be used for mesh gateways";
        if (!o.register_service) return "'-expose-servers' requires '-register'";
    }
    if (o.gateway != "mesh")
        return o.gateway.empty() ? std::string("meshfed mesh-gateway needs -gateway=mesh")
                                 : std::string(
                                       "Gateway must be one of: mesh (meshfed runs mesh "
                                       "gateways only)");
    if (o.service.empty()) o.service = "mesh-gateway";
    if (o.proxy_id.empty()) o.proxy_id = o.service;
    if (auto a = parse_address(o.address); !a)
        return fmt::format("Failed to parse the -address parameter: {}", a.error());
    if (!o.wan_address.empty())
        if (auto a = parse_address(o.wan_address); !a)
            return fmt::format("Failed to parse the -wan-address parameter: {}", a.error());
    for (const auto& b : o.bind_addresses) {
        auto eq = b.find('=');
        if (eq == std::string::npos || eq == 0)
            return fmt::format("invalid -bind-address \"{}\": expected name=ip:port", b);
        if (!net::parse_ip_port(b.substr(eq + 1)))
            return fmt::format("invalid -bind-address \"{}\": expected name=ip:port", b);
    }
    if (!o.admin_bind.empty()) {
        if (o.admin_bind.starts_with("localhost:"))
            o.admin_bind = "127.0.0.1" + o.admin_bind.substr(9);
        if (!net::parse_ip_port(o.admin_bind))
            return fmt::format("invalid -admin-bind \"{}\": expected ip:port", o.admin_bind);
    }
    return std::nullopt;
}

std::vector<std::pair<std::string, std::uint64_t>> mesh_gateway_counters(
    const mesh::proxy_stats& s) {
    std::vector<std::pair<std::string, std::uint64_t>> out = {
        {"accepted", s.accepted},
        {"refused_source_cap", s.refused_source_cap},
        {"hello_timeouts", s.hello_timeouts},
        {"bad_hello", s.bad_hello},
        {"unknown_sni", s.unknown_sni},
        {"active", s.active},
    };
    for (const auto& [route, r] : s.routes) {
        const std::pair<const char*, std::uint64_t> per[] = {
            {"connections", r.connections}, {"upstream_failures", r.upstream_failures},
            {"no_endpoint", r.no_endpoint}, {"bytes_up", r.bytes_up},
            {"bytes_down", r.bytes_down},
        };
        for (const auto& [name, v] : per) out.emplace_back("route." + route + "." + name, v);
    }
    return out;
}

nlohmann::json mesh_gateway_registration(const mesh_gateway_options& o) {
    auto lan = *parse_address(o.address);
    nlohmann::json tagged = nlohmann::json::object();
    if (!lan.host.empty()) tagged["lan"] = {{"Address", lan.host}, {"Port", lan.port}};
    if (!o.wan_address.empty()) {
        auto wan = *parse_address(o.wan_address);
        tagged["wan"] = {{"Address", wan.host}, {"Port", wan.port}};
    }
    nlohmann::json reg = {
        {"Kind", "mesh-gateway"},
        {"Name", o.service},
        {"ID", o.proxy_id},
        {"Address", lan.host},
        {"Port", lan.port},
        {"TaggedAddresses", tagged},
        {"Check",
         {{"Name", "mesh-gateway listening"},
          {"TCP", join_host_port(lan.host.empty() ? "127.0.0.1" : lan.host, lan.port)},
          {"Interval", "10s"},
          {"DeregisterCriticalServiceAfter", o.deregister_after_critical}}},
    };
    if (o.expose_servers) reg["Meta"] = {{"consul-wan-federation", "1"}};
    if (!o.bind_addresses.empty()) {
        nlohmann::json binds = nlohmann::json::object();
        for (const auto& b : o.bind_addresses) {
            auto eq = b.find('=');
            auto hp = *parse_address(b.substr(eq + 1));
            binds[b.substr(0, eq)] = {{"Address", hp.host}, {"Port", hp.port}};
        }
        reg["Proxy"] = {
            {"Config",
             {{"envoy_gateway_no_default_bind", true}, {"envoy_gateway_bind_addresses", binds}}}};
    }
    return reg;
}

std::vector<std::string> mesh_gateway_listen_addresses(const mesh_gateway_options& o) {
    std::vector<std::string> out;
    if (!o.bind_addresses.empty()) {
        for (const auto& b : o.bind_addresses) out.push_back(b.substr(b.find('=') + 1));
        return out;
    }
    auto lan = *parse_address(o.address);
    out.push_back(join_host_port(lan.host.empty() ? "0.0.0.0" : lan.host, lan.port));
    // The WAN side is bound too only when it is a local IP of its own (Consul binds the tagged
    // addresses only when both are local): a NAT, load-balancer or DNS name is not ours to bind,
    // and a wildcard LAN listener already covers every local IP on its port.
    if (!o.wan_address.empty() && !lan.host.empty()) {
        auto wan = *parse_address(o.wan_address);
        auto w = join_host_port(wan.host, wan.port);
        if (w != out.front() && is_local_ip(wan.host)) out.push_back(w);
    }
    return out;
}

namespace {

// Shared between the watch threads and the proxy's io_context.
struct gateway_state {
    asio::io_context io;
    std::unique_ptr<mesh::gateway_proxy> proxy;
    mesh::routing_table table;  // touched on io only
    std::atomic<bool> stopping{false};
};

// One blocking-query watch loop: GET path?index=N&wait=5m, parse, post `apply` on the io.
void watch(std::shared_ptr<gateway_state> st, cli::http_config http, std::string what,
           std::string path, cli::query_params base,
           std::function<void(gateway_state&, const nlohmann::json&)> apply) {
    auto log = get_logger("mesh-gateway");
    cli::api_client client(http);
    std::uint64_t index = 0;
    int failures = 0;
    while (!st->stopping) {
        auto params = base;
        if (index > 0) {
            params.push_back({"index", std::to_string(index)});
            params.push_back({"wait", "5m"});
        }
        auto r = client.request("GET", path, params);
        if (st->stopping) return;
        if (!r || r->status != 200) {
            ++failures;
            log->warn("mesh-gateway: watching {} ({}) failed: {}", what, path,
                      r ? cli::unexpected_response_text(r->status, r->body) : r.error());
            // Back off like Consul's watches: 1 s doubling to 30 s, then keep trying.
            auto delay = std::chrono::seconds(std::min(30, 1 << std::min(failures - 1, 5)));
            for (auto end = std::chrono::steady_clock::now() + delay;
                 !st->stopping && std::chrono::steady_clock::now() < end;)
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            continue;
        }
        failures = 0;
        std::uint64_t next = r->index;
        // Consul's watch rules: an index that went backwards resets; never 0.
        index = next < index || next == 0 ? 1 : next;
        auto j = nlohmann::json::parse(r->body, nullptr, false);
        if (j.is_discarded()) {
            log->warn("mesh-gateway: {} answered with malformed JSON", path);
            continue;
        }
        asio::post(st->io, [st, apply, j = std::move(j)] { apply(*st, j); });
    }
}

}  // namespace

int run_mesh_gateway(mesh_gateway_options o, std::ostream& out, std::ostream& err) {
    if (auto e = check_mesh_gateway_flags(o)) {
        err << *e << "\n";
        return 1;
    }
    auto http = cli::resolve_http_config(o.http, cli::process_env());
    if (!http) {
        err << "Error connecting to Consul agent: " << http.error() << "\n";
        return 1;
    }
    auto log = get_logger("mesh-gateway");
    cli::api_client client(*http);
    auto self = client.request_ok("GET", "/v1/agent/self", {});
    if (!self) {
        err << "Error connecting to Consul agent: " << self.error() << "\n";
        return 1;
    }
    auto self_json = nlohmann::json::parse(*self, nullptr, false);
    auto string_at = [&](const char* section, const char* key) -> std::string {
        if (!self_json.is_object()) return {};
        auto s = self_json.find(section);
        if (s == self_json.end() || !s->is_object()) return {};
        auto v = s->find(key);
        return v != s->end() && v->is_string() ? v->get<std::string>() : std::string();
    };
    std::string dc = string_at("Config", "Datacenter");
    std::string domain = string_at("DebugConfig", "DNSDomain");
    if (domain.empty()) domain = "consul";
    while (!domain.empty() && domain.back() == '.') domain.pop_back();
    if (dc.empty()) {
        err << "Error connecting to Consul agent: /v1/agent/self did not name a datacenter\n";
        return 1;
    }

    if (auto fl = net::raise_fd_limit(); !fl)
        log->warn("mesh-gateway: could not raise the open file limit: {}", fl.error().message());
    auto st = std::make_shared<gateway_state>();
    st->proxy = std::make_unique<mesh::gateway_proxy>(st->io.get_executor(), dc, domain);
    for (const auto& a : mesh_gateway_listen_addresses(o)) {
        auto colon = a.rfind(':');
        std::string ip = a.substr(0, colon);
        if (ip.size() >= 2 && ip.front() == '[') ip = ip.substr(1, ip.size() - 2);
        auto port = static_cast<std::uint16_t>(std::atoi(a.c_str() + colon + 1));
        if (auto ec = st->proxy->listen(ip, port)) {
            err << fmt::format("mesh-gateway: cannot listen on {}: {}\n", a, ec.message());
            return 1;
        }
    }
    // The admin listener shares the proxy's io_context, so /stats reads the counters on the
    // thread that writes them.
    std::unique_ptr<http::http_api> admin;
    if (!o.admin_bind.empty()) {
        auto ep = *net::parse_ip_port(o.admin_bind);
        http::http_config acfg;
        acfg.bind_addr = ep.address().to_string();
        acfg.port = ep.port();
        acfg.max_connections = 64;
        acfg.max_body = acfg.hard_max_body = 4096;
        admin = std::make_unique<http::http_api>(
            st->io, acfg,
            [](std::string, std::string, std::vector<std::uint8_t>, rpc::reply_fn) {});
        admin->add_route("/stats", {http::verb::get},
                         [st](const http::request& req, http::respond_fn respond) {
                             auto counters = mesh_gateway_counters(st->proxy->stats());
                             http::response r;
                             if (req.query_value("format") == "json") {
                                 nlohmann::json j = nlohmann::json::object();
                                 for (const auto& [k, v] : counters) j[k] = v;
                                 r.body = j.dump();
                             } else {
                                 r.content_type = "text/plain";
                                 for (const auto& [k, v] : counters)
                                     r.body += fmt::format("meshfed.gateway.{}: {}\n", k, v);
                             }
                             respond(std::move(r));
                         });
        admin->add_route("/ready", {http::verb::get},
                         [](const http::request&, http::respond_fn respond) {
                             respond({200, "LIVE\n", "text/plain", {}});
                         });
        if (auto started = admin->start(); !started) {
            err << "mesh-gateway: admin listener: " << started.error() << "\n";
            return 1;
        }
        log->info("mesh-gateway: admin listener on {}:{} (GET /stats, /ready)", acfg.bind_addr,
                  admin->port());
    }
    if (o.register_service) {
        auto body = mesh_gateway_registration(o).dump();
        auto r = client.request_ok("PUT", "/v1/agent/service/register", {}, body);
        if (!r) {
            err << fmt::format("Error registering service \"{}\": {}\n", o.service, r.error());
            return 1;
        }
        out << "Registered service: " << o.service << "\n" << std::flush;
    }
    st->proxy->start();
    log->info(
        "mesh-gateway: serving datacenter {} (domain {}) on {}; SNI routing, TLS passed "
        "through",
        dc, domain, fmt::join(mesh_gateway_listen_addresses(o), ", "));

    auto local = [](gateway_state& s, const nlohmann::json& j) {
        mesh::route_build_report rep;
        s.table.local_servers = mesh::local_servers_from_health(j, &rep);
        s.proxy->set_routes(s.table);
    };
    auto remote = [dc](gateway_state& s, const nlohmann::json& j) {
        mesh::route_build_report rep;
        s.table.dc_gateways = mesh::dc_gateways_from_federation(j, dc, &rep);
        s.proxy->set_routes(s.table);
    };
    std::thread(watch, st, *http, "local servers", "/v1/health/service/consul",
                cli::query_params{{"passing", "1"}}, local)
        .detach();
    std::thread(watch, st, *http, "mesh gateways of other datacenters",
                "/v1/internal/federation-states/mesh-gateways", cli::query_params{}, remote)
        .detach();

    asio::signal_set signals(st->io, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code ec, int sig) {
        if (ec) return;
        log->info("mesh-gateway: caught signal {}; deregistering and stopping",
                  sig == SIGINT ? "interrupt" : "terminated");
        st->stopping = true;
        st->proxy->stop();
        if (admin) admin->stop();
        st->io.stop();
    });
    st->io.run();
    if (o.register_service) {
        auto r = client.request_ok("PUT", "/v1/agent/service/deregister/" + o.proxy_id, {});
        if (!r)
            log->warn("mesh-gateway: deregistering {} failed: {}", o.proxy_id, r.error());
        else
            log->info("mesh-gateway: deregistered service {}", o.proxy_id);
    }
    // The watch threads are detached and may sit in a blocking query for minutes: leave without
    // running static destructors under them (spdlog, OpenSSL), after flushing what we printed.
    spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->flush(); });
    out.flush();
    err.flush();
    std::fflush(nullptr);
    std::_Exit(0);
}

}  // namespace meshfed::agent
