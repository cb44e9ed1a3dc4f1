#include "agent/http/agent_endpoints.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "agent/http/filter.hpp"
#include "agent/http/json_codec.hpp"
#include "agent/http/query.hpp"

namespace meshfed::agent::http {

namespace {

using json = nlohmann::json;

// Consul: `if other := req.URL.Query().Get("wan"); other != ""` (so "?wan=1", not "?wan").
bool flag(const request& req, std::string_view key) {
    auto v = req.query_value(key);
    return v.has_value() && !v->empty();
}

// go-multierror's list format, which Consul's keyring and join errors print.
std::string multierror(const std::vector<std::string>& errs) {
    if (errs.size() == 1) return fmt::format("1 error occurred:\n\t* {}\n\n", errs.front());
    std::string out = fmt::format("{} errors occurred:", errs.size());
    for (const auto& e : errs) out += "\n\t* " + e;
    return out + "\n\n";
}

constexpr const char* no_lan_pool =
    "meshfed runs no LAN gossip pool (server agents only); use ?wan=1 for the WAN pool";
constexpr const char* no_wan_pool = "No WAN gossip pool on this agent (server = false?)";

void members(const agent_control& ctl, const request& req, respond_fn respond) {
    json out = json::array();
    if (flag(req, "wan")) {
        if (!ctl.wan_members) return respond(json_response(out));
        for (const auto& m : ctl.wan_members()) out.push_back(member_json(m));
    } else if (ctl.lan_member) {
        out.push_back(member_json(ctl.lan_member()));
    }
    auto f = apply_filter(req.query_value("filter").value_or(""), member_filter_schema(), out);
    if (!f) return respond(text_response(400, f.error()));
    respond(json_response(out));
}

void join(const agent_control& ctl, const request& req, respond_fn respond) {
    const auto& addr = req.suffix;
    if (!flag(req, "wan")) return respond(text_response(500, no_lan_pool));
    if (!ctl.join_wan_disabled.empty()) return respond(text_response(500, ctl.join_wan_disabled));
    if (!ctl.join_wan) return respond(text_response(500, no_wan_pool));
    ctl.join_wan(addr, [respond = std::move(respond)](int n, std::vector<std::string> errs) {
        if (n > 0) return respond(json_response(json(nullptr)));
        if (errs.empty()) errs.push_back("no peer answered");
        respond(text_response(500, multierror(errs)));
    });
}

void force_leave(const agent_control& ctl, const request& req, respond_fn respond) {
    if (req.suffix.empty()) return respond(text_response(400, "Missing node name"));
    if (!flag(req, "wan")) return respond(text_response(500, no_lan_pool));
    if (!ctl.force_leave_wan) return respond(text_response(500, no_wan_pool));
    auto r = ctl.force_leave_wan(req.suffix, req.has_query("prune"));
    if (!r) return respond(text_response(500, r.error()));
    respond(json_response(json(nullptr)));
}

void leave(const agent_control& ctl, const request&, respond_fn respond) {
    if (!ctl.leave) return respond(text_response(500, "leave is not available"));
    ctl.leave([respond = std::move(respond)] { respond(json_response(json(nullptr))); });
}

// Consul's keyringErrorsOrNil over our single (WAN) pool response.
std::vector<std::string> keyring_errors(const wan::key_response_summary& s) {
    std::vector<std::string> errs;
    if (s.error.empty()) return errs;
    errs.push_back("WAN error: " + s.error);
    for (const auto& [node, msg] : s.messages) errs.push_back(node + ": " + msg);
    return errs;
}

json keyring_json(const std::string& dc, const wan::key_response_summary& s) {
    json r = json::object();
    r["WAN"] = true;
    r["Datacenter"] = dc;
    r["Segment"] = "";
    r["Messages"] = s.messages;
    r["Keys"] = s.keys;
    r["PrimaryKeys"] = s.primary_keys;
    r["NumNodes"] = s.num_nodes;
    return r;
}

void keyring(const http_api& api, const agent_control& ctl, const request& req,
             respond_fn respond) {
    if (!ctl.key_operation) return respond(text_response(500, no_wan_pool));
    if (auto rf = req.query_value("relay-factor"); rf && !rf->empty()) {
        int v = -1;
        auto [p, ec] = std::from_chars(rf->data(), rf->data() + rf->size(), v);
        if (ec != std::errc() || p != rf->data() + rf->size() || v < 0 || v > 5) {
            return respond(
                text_response(400,
                              "Error parsing relay factor: relay factor must be in range: "
                              "[0, 5]"));
        }
    }
    wan::key_op op = wan::key_op::list;
    std::string key;
    if (req.method != verb::get) {
        auto j = parse_json_body(req.body);
        if (!j) return respond(text_response(400, "Request decode failed: " + j.error()));
        if (!j->is_object())
            return respond(text_response(400, "Request decode failed: json: cannot unmarshal " +
                                                  std::string(j->type_name()) +
                                                  " into Go value of type agent.keyringArgs"));
        for (auto it = j->begin(); it != j->end(); ++it) {
            std::string k = it.key();
            std::transform(k.begin(), k.end(), k.begin(), ::tolower);
            if (k != "key" || it->is_null()) continue;
            if (!it->is_string())
                return respond(
                    text_response(400, "Request decode failed: json: cannot unmarshal " +
                                           std::string(it->type_name()) +
                                           " into Go struct field keyringArgs.Key of type string"));
            key = it->get<std::string>();
        }
        op = req.method == verb::post  ? wan::key_op::install
             : req.method == verb::put ? wan::key_op::use
                                       : wan::key_op::remove;
    }
    auto dc = api.config().datacenter;
    auto started =
        ctl.key_operation(op, key, [op, dc, respond](const wan::key_response_summary& s) {
            auto errs = keyring_errors(s);
            if (!errs.empty()) return respond(text_response(500, multierror(errs)));
            if (op != wan::key_op::list) return respond(json_response(json(nullptr)));
            json out = json::array();
            out.push_back(keyring_json(dc, s));
            respond(json_response(out));
        });
    if (!started) respond(text_response(500, started.error()));
}

}  // namespace

json member_json(const wan::member& m) {
    json j = json::object();
    j["Name"] = m.name;
    // serf.Member.Addr is a net.IP: the address without the port.
    std::string addr = m.addr.to_string();
    if (auto colon = addr.rfind(':'); colon != std::string::npos) addr.resize(colon);
    if (addr.size() >= 2 && addr.front() == '[') addr = addr.substr(1, addr.size() - 2);
    j["Addr"] = addr;
    j["Port"] = m.addr.port;
    j["Tags"] = m.tags;
    j["Status"] = static_cast<int>(m.status);
    j["ProtocolMin"] = m.protocol_min;
    j["ProtocolMax"] = m.protocol_max;
    j["ProtocolCur"] = m.protocol_cur;
    j["DelegateMin"] = m.delegate_min;
    j["DelegateMax"] = m.delegate_max;
    j["DelegateCur"] = m.delegate_cur;
    return j;
}

void register_agent_endpoints(http_api& api, agent_control c) {
    auto ctl = std::make_shared<agent_control>(std::move(c));
    api.add_route("/v1/agent/self", {verb::get}, [ctl](const request&, respond_fn respond) {
        respond(json_response(ctl->self ? ctl->self() : json::object()));
    });
    api.add_route("/v1/agent/members", {verb::get},
                  [ctl](const request& req, respond_fn r) { members(*ctl, req, std::move(r)); });
    api.add_route("/v1/agent/join/", {verb::put},
                  [ctl](const request& req, respond_fn r) { join(*ctl, req, std::move(r)); });
    api.add_route("/v1/agent/force-leave/", {verb::put}, [ctl](const request& req, respond_fn r) {
        force_leave(*ctl, req, std::move(r));
    });
    api.add_route("/v1/agent/leave", {verb::put},
                  [ctl](const request& req, respond_fn r) { leave(*ctl, req, std::move(r)); });
    api.add_route(
        "/v1/operator/keyring", {verb::get, verb::post, verb::put, verb::del},
        [ctl, &api](const request& req, respond_fn r) { keyring(api, *ctl, req, std::move(r)); });
}

}  // namespace meshfed::agent::http
