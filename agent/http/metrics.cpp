#include "agent/http/metrics.hpp"

#include <ctime>

#include <fmt/format.h>

#include "agent/http/query.hpp"
#include "common/run_loop.hpp"

namespace meshfed::agent::http {

namespace {

using json = nlohmann::json;
using labels_t = std::map<std::string, std::string>;

struct collector {
    std::vector<metric>& out;
    void counter(std::string name, double v, std::string help, labels_t l = {}) {
        out.push_back({std::move(name), metric_kind::counter, v, std::move(l), std::move(help)});
    }
    void gauge(std::string name, double v, std::string help, labels_t l = {}) {
        out.push_back({std::move(name), metric_kind::gauge, v, std::move(l), std::move(help)});
    }
};

const labels_t wan = {{"network", "wan"}};

void memberlist_metrics(collector& c, const wan::memberlist_stats& s) {
    c.counter("consul.memberlist.msg.suspect", s.suspects_raised, "Suspect messages raised", wan);
    c.counter("consul.memberlist.msg.dead", s.dead_declared, "Members declared dead", wan);
    c.counter("consul.meshfed.memberlist.packets_sent", s.packets_sent, "Gossip packets sent", wan);
    c.counter("consul.meshfed.memberlist.packets_received", s.packets_received,
              "Gossip packets received", wan);
    c.counter("consul.meshfed.memberlist.probes", s.probes, "Failure detector probes", wan);
    c.counter("consul.meshfed.memberlist.probes_failed", s.probes_failed, "Probes without an ack",
              wan);
    c.counter("consul.meshfed.memberlist.indirect_probes", s.indirect_probes,
              "Indirect probes requested", wan);
    c.counter("consul.meshfed.memberlist.tcp_fallback", s.tcp_fallback_ok,
              "TCP fallback probes by result", {{"network", "wan"}, {"result", "ok"}});
    c.counter("consul.meshfed.memberlist.tcp_fallback", s.tcp_fallback_failed,
              "TCP fallback probes by result", {{"network", "wan"}, {"result", "failed"}});
    c.counter("consul.meshfed.memberlist.refutes", s.refutes, "Suspicions about us refuted", wan);
    c.counter("consul.meshfed.memberlist.push_pulls", s.push_pulls, "Push/pull syncs", wan);
    // Drops: the wire layer's by reason, then the protocol layer's.
    for (std::size_t i = 1; i < wan::wire::errc_count; ++i) {
        auto e = static_cast<wan::wire::errc>(i);
        if (e == wan::wire::errc::incomplete) continue;  // not a drop
        c.counter("consul.meshfed.memberlist.dropped", s.wire.count(e),
                  "Gossip inputs dropped, by reason",
                  {{"network", "wan"}, {"reason", std::string(wan::wire::to_string(e))}});
    }
    const std::pair<const char*, std::uint64_t> proto[] = {
        {"ping_wrong_node", s.ping_wrong_node}, {"ack_unknown_seq", s.ack_unknown_seq},
        {"alive_refused", s.alive_refused},     {"stale_message", s.stale_messages},
        {"stream_refused", s.streams_refused},
    };
    for (const auto& [reason, v] : proto)
        c.counter("consul.meshfed.memberlist.dropped", v, "Gossip inputs dropped, by reason",
                  {{"network", "wan"}, {"reason", reason}});
}

void transport_metrics(collector& c, const wan::transport_stats& s) {
    c.counter("consul.memberlist.tcp.accept", s.tcp_in, "Gossip TCP streams accepted", wan);
    c.counter("consul.memberlist.tcp.connect", s.tcp_out, "Gossip TCP streams opened", wan);
    c.counter("consul.meshfed.transport.udp_in", s.udp_in, "Gossip UDP datagrams received", wan);
    c.counter("consul.meshfed.transport.udp_out", s.udp_out, "Gossip UDP datagrams sent", wan);
    c.counter("consul.meshfed.transport.errors", s.udp_send_errors, "Gossip transport errors",
              {{"network", "wan"}, {"kind", "udp_send"}});
    c.counter("consul.meshfed.transport.errors", s.tcp_errors, "Gossip transport errors",
              {{"network", "wan"}, {"kind", "tcp"}});
    c.counter("consul.meshfed.transport.errors", s.tcp_in_refused_busy, "Gossip transport errors",
              {{"network", "wan"}, {"kind", "tcp_refused_busy"}});
    c.counter("consul.meshfed.transport.errors", s.tcp_in_refused_source_cap,
              "Gossip transport errors", {{"network", "wan"}, {"kind", "tcp_refused_source_cap"}});
    c.counter("consul.meshfed.transport.errors", s.tcp_in_timeouts, "Gossip transport errors",
              {{"network", "wan"}, {"kind", "tcp_timeout"}});
    c.counter("consul.meshfed.transport.errors", s.tunnel_route_errors, "Gossip transport errors",
              {{"network", "wan"}, {"kind", "tunnel_route"}});
}

void serf_metrics(collector& c, const wan::serf_stats& s) {
    c.counter("consul.serf.member.join", s.member_joins, "Members joined", wan);
    c.counter("consul.serf.member.left", s.member_leaves, "Members left", wan);
    c.counter("consul.serf.member.failed", s.member_failures, "Members failed", wan);
    c.counter("consul.serf.member.update", s.member_updates, "Member updates", wan);
    c.counter("consul.serf.member.flap", s.flaps, "Members that failed and came back", wan);
    c.counter("consul.serf.events", s.events_delivered, "User events delivered", wan);
    c.counter("consul.serf.queries", s.queries_handled, "Queries handled", wan);
    c.gauge("consul.serf.queue.Intent", static_cast<double>(s.intent_queue),
            "Intents queued for broadcast", wan);
    c.gauge("consul.serf.queue.Event", static_cast<double>(s.event_queue),
            "Events queued for broadcast", wan);
    c.gauge("consul.serf.queue.Query", static_cast<double>(s.query_queue),
            "Queries queued for broadcast", wan);
    c.gauge("consul.meshfed.serf.members", static_cast<double>(s.members), "Members by status",
            {{"network", "wan"}, {"status", "all"}});
    c.gauge("consul.meshfed.serf.members", static_cast<double>(s.failed), "Members by status",
            {{"network", "wan"}, {"status", "failed"}});
    c.gauge("consul.meshfed.serf.members", static_cast<double>(s.left), "Members by status",
            {{"network", "wan"}, {"status", "left"}});
    for (std::size_t i = 0; i < wan::serf_message_type_count; ++i) {
        if (s.received[i] == 0) continue;
        c.counter("consul.meshfed.serf.messages_received", s.received[i],
                  "Serf messages received, by type",
                  {{"network", "wan"},
                   {"type", std::string(wan::to_string(static_cast<wan::serf_message_type>(i)))}});
    }
    for (std::size_t i = 1; i < wan::serf_errc_count; ++i) {
        auto e = static_cast<wan::serf_errc>(i);
        c.counter("consul.meshfed.serf.dropped", s.drops(e), "Serf inputs dropped, by reason",
                  {{"network", "wan"}, {"reason", std::string(wan::to_string(e))}});
    }
    c.counter("consul.meshfed.serf.dropped", s.unknown_type, "Serf inputs dropped, by reason",
              {{"network", "wan"}, {"reason", "unknown message type"}});
    c.counter("consul.meshfed.serf.dropped", s.query_replies_dropped,
              "Serf inputs dropped, by reason", {{"network", "wan"}, {"reason", "query reply"}});
}

void rpc_metrics(collector& c, const rpc::server_stats& s) {
    c.counter("consul.rpc.request", s.calls, "RPC requests served");
    c.counter("consul.rpc.request_error", s.call_errors, "RPC requests answered with an error");
    c.counter("consul.rpc.cross-dc", s.forwarded, "RPC requests forwarded to another datacenter");
    c.counter("consul.rpc.accept_conn", s.accepted, "RPC connections accepted");
    c.counter("consul.meshfed.rpc.decode_errors", s.decode_errors, "Undecodable RPC requests");
    const std::pair<const char*, std::uint64_t> refused[] = {
        {"conn_limit", s.rejected_conn_limit},
        {"handshake_timeout", s.handshake_timeouts},
        {"unrecognized_byte", s.unrecognized_byte},
        {"plaintext_refused", s.plaintext_refused},
        {"tls_in_tls", s.tls_in_tls},
        {"insecure_refused", s.insecure_refused},
        {"alpn_unknown", s.alpn_unknown},
        {"role_refused", s.role_refused},
    };
    for (const auto& [reason, v] : refused)
        c.counter("consul.meshfed.rpc.conn_refused", v, "RPC connections refused, by reason",
                  {{"reason", reason}});
    c.counter("consul.meshfed.tls.handshake_failures", s.tls_failures,
              "TLS handshakes that failed on the RPC port");
    c.counter("consul.meshfed.tls.native_connections", s.native_tls,
              "Native TLS (ALPN) connections on the RPC port");
    // Consul's pool.RPCType bytes.
    static constexpr const char* type_names[10] = {
        "consul",   "raft",   "multiplex",    "tls",  "multiplex_v2",
        "snapshot", "gossip", "tls_insecure", "grpc", "9"};
    for (int i = 0; i < 10; ++i) {
        if (s.by_type[i] == 0) continue;
        c.counter("consul.meshfed.rpc.connections", s.by_type[i], "RPC connections by first byte",
                  {{"type", type_names[i]}});
    }
    // performance.rpc_busy_poll: requests picked up while spinning vs windows that ran out.
    const auto& bp = busy_poll_counters();
    c.counter("consul.meshfed.rpc.busy_poll", bp.caught, "Busy-poll windows after RPC requests",
              {{"outcome", "caught"}});
    c.counter("consul.meshfed.rpc.busy_poll", bp.expired, "Busy-poll windows after RPC requests",
              {{"outcome", "expired"}});
}

void endpoint_metrics(collector& c, const rpc::endpoint_stats& s) {
    c.counter("consul.meshfed.rpc.endpoint.calls", s.calls, "Endpoint calls");
    c.counter("consul.meshfed.rpc.endpoint.errors", s.errors, "Endpoint calls that failed");
    c.counter("consul.meshfed.rpc.endpoint.decode_errors", s.decode_errors,
              "Endpoint calls with undecodable arguments");
    c.counter("consul.meshfed.rpc.blocking_queries", s.parked, "Blocking queries, by outcome",
              {{"outcome", "parked"}});
    c.counter("consul.meshfed.rpc.blocking_queries", s.woken, "Blocking queries, by outcome",
              {{"outcome", "woken"}});
    c.counter("consul.meshfed.rpc.blocking_queries", s.timed_out, "Blocking queries, by outcome",
              {{"outcome", "timed_out"}});
}

void pool_metrics(collector& c, const rpc::pool_stats& s) {
    c.counter("consul.meshfed.rpc.pool.dials", s.dials, "Outgoing RPC connections dialed");
    c.counter("consul.meshfed.rpc.pool.dial_failures", s.dial_failures, "Outgoing dials failed");
    c.counter("consul.meshfed.rpc.pool.calls", s.calls, "Outgoing RPC calls (forwarding)");
    c.counter("consul.meshfed.rpc.pool.call_failures", s.call_failures, "Outgoing calls failed");
    c.counter("consul.meshfed.rpc.pool.redials", s.redials, "Outgoing connections redialed");
    c.counter("consul.meshfed.rpc.pool.idle_closed", s.idle_closed, "Idle connections closed");
    c.counter("consul.meshfed.rpc.pool.streams", s.streams_opened,
              "Streams used for outgoing calls, by origin", {{"origin", "opened"}});
    c.counter("consul.meshfed.rpc.pool.streams", s.streams_reused,
              "Streams used for outgoing calls, by origin", {{"origin", "reused"}});
}

void tunnel_metrics(collector& c, const wan::wanfed::tunnel_stats& s) {
    const std::pair<const char*, std::uint64_t> v[] = {
        {"packets_out", s.packets_out},
        {"packets_in", s.packets_in},
        {"packet_dials", s.packet_dials},
        {"packet_dial_failures", s.packet_dial_failures},
        {"packet_write_failures", s.packet_write_failures},
        {"packets_dropped_queue_full", s.packets_dropped_queue_full},
        {"packets_dropped_no_route", s.packets_dropped_no_route},
        {"packet_conns_reaped", s.packet_conns_reaped},
        {"streams_out", s.streams_out},
        {"stream_dial_failures", s.stream_dial_failures},
        {"streams_in", s.streams_in},
        {"frames_oversized", s.frames_oversized},
        {"bad_names", s.bad_names},
    };
    for (const auto& [name, val] : v)
        c.counter(fmt::format("consul.meshfed.wanfed.{}", name), val,
                  "WAN gossip through mesh gateways");
}

void dialer_metrics(collector& c, const mesh::dialer_stats& s) {
    c.counter("consul.meshfed.gateway_dialer.dials", s.dials, "Dials through mesh gateways");
    c.counter("consul.meshfed.gateway_dialer.failures", s.no_gateway,
              "Gateway dials that failed, by reason", {{"reason", "no_gateway"}});
    c.counter("consul.meshfed.gateway_dialer.failures", s.connect_failures,
              "Gateway dials that failed, by reason", {{"reason", "connect"}});
    c.counter("consul.meshfed.gateway_dialer.failures", s.tls_failures,
              "Gateway dials that failed, by reason", {{"reason", "tls"}});
}

void local_metrics(collector& c, const local_state_stats& s) {
    c.counter("consul.meshfed.anti_entropy.full_syncs", s.full_syncs, "Anti-entropy full syncs");
    c.counter("consul.meshfed.anti_entropy.registers", s.sync_registers,
              "Catalog registrations by anti-entropy");
    c.counter("consul.meshfed.anti_entropy.deregisters", s.sync_deregisters,
              "Catalog deregistrations by anti-entropy");
    c.counter("consul.meshfed.anti_entropy.errors", s.sync_errors, "Anti-entropy sync failures");
    c.counter("consul.meshfed.checks.status_changes", s.status_changes,
              "Health check status transitions");
    c.counter("consul.meshfed.checks.services_reaped", s.services_reaped,
              "Services deregistered by DeregisterCriticalServiceAfter");
}

void http_metrics(collector& c, const http_stats& s) {
    c.counter("consul.meshfed.http.requests", s.requests, "HTTP API requests");
    c.counter("consul.meshfed.http.responses", s.responses_2xx, "HTTP API responses, by class",
              {{"code", "2xx"}});
    c.counter("consul.meshfed.http.responses", s.responses_4xx, "HTTP API responses, by class",
              {{"code", "4xx"}});
    c.counter("consul.meshfed.http.responses", s.responses_5xx, "HTTP API responses, by class",
              {{"code", "5xx"}});
    c.gauge("consul.meshfed.http.pending", static_cast<double>(s.pending),
            "HTTP requests accepted and not answered yet");
}

// go-metrics' interval timestamp: time.Time.String() in UTC, whole seconds.
std::string go_time_text(std::chrono::system_clock::time_point t) {
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
    return buf;
}

std::string prom_name(std::string_view dotted) {
    std::string out;
    for (char ch : dotted) {
        const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                        (ch >= '0' && ch <= '9') || ch == '_' || ch == ':';
        out.push_back(ok ? ch : '_');
    }
    return out;
}

std::string prom_escape(std::string_view v) {
    std::string out;
    for (char ch : v) {
        if (ch == '\\') {
            out += "\\\\";
        } else if (ch == '"') {
            out += "\\\"";
        } else if (ch == '\n') {
            out += "\\n";
        } else {
            out.push_back(ch);
        }
    }
    return out;
}

std::string prom_value(double v) {
    if (v == static_cast<double>(static_cast<std::int64_t>(v))) {
        return fmt::format("{}", static_cast<std::int64_t>(v));
    }
    return fmt::format("{}", v);
}

}  // namespace

std::vector<metric> collect_metrics(const stats_sources& src) {
    std::vector<metric> out;
    collector c{out};
    auto each = [&](const auto& fn, auto emit) {
        if (!fn) return;
        if (auto v = fn()) emit(c, *v);
    };
    each(src.memberlist, memberlist_metrics);
    each(src.transport, transport_metrics);
    each(src.serf, serf_metrics);
    each(src.rpc_server, rpc_metrics);
    each(src.rpc_endpoints, endpoint_metrics);
    each(src.rpc_pool, pool_metrics);
    each(src.tunnel, tunnel_metrics);
    each(src.dialer, dialer_metrics);
    each(src.local, local_metrics);
    each(src.http, http_metrics);
    if (src.extra)
        for (auto& m : src.extra()) out.push_back(std::move(m));
    return out;
}

json metrics_json(const std::vector<metric>& ms, std::chrono::system_clock::time_point now,
                  std::chrono::steady_clock::duration uptime) {
    json gauges = json::array(), counters = json::array();
    const double secs = std::max(1.0, std::chrono::duration<double>(uptime).count());
    for (const auto& m : ms) {
        json labels = json::object();
        for (const auto& [k, v] : m.labels) labels[k] = v;
        if (m.kind == metric_kind::gauge) {
            gauges.push_back({{"Name", m.name}, {"Value", m.value}, {"Labels", labels}});
        } else {
            counters.push_back({{"Name", m.name},
                                {"Count", static_cast<std::uint64_t>(m.value)},
                                {"Rate", m.value / secs},
                                {"Sum", m.value},
                                {"Min", m.value > 0 ? 1.0 : 0.0},
                                {"Max", m.value > 0 ? 1.0 : 0.0},
                                {"Mean", m.value > 0 ? 1.0 : 0.0},
                                {"Stddev", 0.0},
                                {"Labels", labels}});
        }
    }
    return {{"Timestamp", go_time_text(now)},
            {"Gauges", gauges},
            {"Points", json::array()},
            {"Counters", counters},
            {"Samples", json::array()}};
}

std::string metrics_prometheus(const std::vector<metric>& ms) {
    // One HELP/TYPE block per metric name, its samples together (the exposition format's rule).
    std::map<std::string, std::vector<const metric*>> by_name;
    std::vector<std::string> order;
    for (const auto& m : ms) {
        auto n = prom_name(m.name);
        if (!by_name.contains(n)) order.push_back(n);
        by_name[n].push_back(&m);
    }
    std::string out;
    for (const auto& n : order) {
        const auto& list = by_name[n];
        out +=
            fmt::format("# HELP {} {}\n", n, list.front()->help.empty() ? n : list.front()->help);
        out += fmt::format("# TYPE {} {}\n", n,
                           list.front()->kind == metric_kind::gauge ? "gauge" : "counter");
        for (const auto* m : list) {
            out += n;
            if (!m->labels.empty()) {
                out += '{';
                bool first = true;
                for (const auto& [k, v] : m->labels) {
                    out +=
                        fmt::format("{}{}=\"{}\"", first ? "" : ",", prom_name(k), prom_escape(v));
                    first = false;
                }
                out += '}';
            }
            out += ' ' + prom_value(m->value) + '\n';
        }
    }
    return out;
}

void register_metrics_endpoint(http_api& api, stats_sources src) {
    auto sources = std::make_shared<stats_sources>(std::move(src));
    const auto started = std::chrono::steady_clock::now();
    api.add_route(
        "/v1/agent/metrics", {verb::get},
        [sources, started](const request& req, respond_fn respond) {
            auto ms = collect_metrics(*sources);
            auto format = req.query_value("format").value_or("");
            if (format == "prometheus") {
                return respond(
                    {200, metrics_prometheus(ms), "text/plain; version=0.0.4; charset=utf-8", {}});
            }
            respond(json_response(metrics_json(ms, std::chrono::system_clock::now(),
                                               std::chrono::steady_clock::now() - started)));
        });
}

}  // namespace meshfed::agent::http
