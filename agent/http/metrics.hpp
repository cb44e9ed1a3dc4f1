#pragma once
// GET /v1/agent/metrics: the agent's counters and gauges, as Consul's go-metrics in-memory sink
// shows them (JSON: Timestamp, Gauges, Points, Counters, Samples; each with Name, Labels) or,
// with ?format=prometheus, in Prometheus' text exposition format (version 0.0.4).
// Sources are injected (`stats_sources`: functions returning the modules' stats structs, empty
// = absent), so this file reads no agent internals. Names follow Consul where Consul has the
// metric (consul.rpc.request, consul.memberlist.*, consul.serf.*, consul.rpc.cross-dc, ...) and
// are consul.meshfed.* otherwise (drop counters by reason, gateway tunnel and dialer).
// Counters are cumulative since the agent started (go-metrics resets its counters every 10 s
// interval; cumulative counts are what Prometheus expects), so a Counters entry has
// Count = Sum = the total and Rate = total / uptime in seconds.
// Threading: the io thread (the sources are called there). Errors: none (absent sources are
// left out).
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/http/http_api.hpp"
#include "agent/local_state.hpp"
#include "mesh/gateway_dialer.hpp"
#include "rpc/conn_pool.hpp"
#include "rpc/endpoints.hpp"
#include "rpc/server.hpp"
#include "wan/memberlist.hpp"
#include "wan/serf.hpp"
#include "wan/transport.hpp"
#include "wan/wanfed.hpp"

namespace meshfed::agent::http {

enum class metric_kind { gauge, counter };

struct metric {
    std::string name;  // dotted, Consul style ("consul.rpc.request")
    metric_kind kind = metric_kind::counter;
    double value = 0;
    std::map<std::string, std::string> labels;
    std::string help;  // Prometheus HELP text
};

struct stats_sources {
    std::function<std::optional<wan::memberlist_stats>()> memberlist;
    std::function<std::optional<wan::transport_stats>()> transport;
    std::function<std::optional<wan::serf_stats>()> serf;
    std::function<std::optional<rpc::server_stats>()> rpc_server;
    std::function<std::optional<rpc::endpoint_stats>()> rpc_endpoints;
    std::function<std::optional<rpc::pool_stats>()> rpc_pool;
    std::function<std::optional<wan::wanfed::tunnel_stats>()> tunnel;
    std::function<std::optional<mesh::dialer_stats>()> dialer;
    std::function<std::optional<local_state_stats>()> local;
    std::function<std::optional<http_stats>()> http;
    // Gauges the agent computes (members, services, checks, ...): name -> value.
    std::function<std::vector<metric>()> extra;
};

// Every metric the sources give, in a stable order.
std::vector<metric> collect_metrics(const stats_sources& src);

nlohmann::json metrics_json(const std::vector<metric>& ms,
                            std::chrono::system_clock::time_point now,
                            std::chrono::steady_clock::duration uptime);
std::string metrics_prometheus(const std::vector<metric>& ms);

void register_metrics_endpoint(http_api& api, stats_sources src);

}  // namespace meshfed::agent::http
