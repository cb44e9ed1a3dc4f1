#pragma once
// Consul's agent-level HTTP endpoints over the WAN pool and the agent process:
//   GET /v1/agent/self, GET /v1/agent/members (?wan=1), PUT /v1/agent/join/<addr>?wan=1,
//   PUT /v1/agent/force-leave/<node>?wan=1 (&prune), PUT /v1/agent/leave,
//   GET|POST|PUT|DELETE /v1/operator/keyring (list | install | use | remove, WAN pool).
// The agent hands in a narrow `agent_control` (std::functions) rather than its internals; an
// empty function means the capability is absent (e.g. no WAN pool: 500 with a reason).
// LAN: meshfed runs no LAN pool (server agents only, one per datacenter). /v1/agent/members
//   without ?wan lists this agent alone (its LAN view: node name, client-facing address and the
//   serf_lan port), which is what `consul members` shows for a lone server; LAN joins and
//   force-leaves answer 500 explaining that only the WAN pool exists.
// Threading: the io thread. Errors: Consul's codes and texts (multierror lists for keyring).
#include <expected>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/http/http_api.hpp"
#include "wan/serf.hpp"

namespace meshfed::agent::http {

struct agent_control {
    std::function<nlohmann::json()> self;     // the /v1/agent/self document
    std::function<wan::member()> lan_member;  // this agent as a LAN member
    std::function<std::vector<wan::member>()> wan_members;
    // Joins the WAN pool through `addr`; done(joined, errors).
    std::function<void(std::string addr, std::function<void(int, std::vector<std::string>)>)>
        join_wan;
    std::string join_wan_disabled;  // non-empty: WAN joins refused with this text (wanfed)
    std::function<std::expected<void, std::string>(std::string node, bool prune)> force_leave_wan;
    // Graceful leave: `left` is called once the pool was told; the agent stops afterwards.
    std::function<void(std::function<void()> left)> leave;
    std::function<std::expected<void, std::string>(
        wan::key_op op, std::string key_b64,
        std::function<void(const wan::key_response_summary&)> done)>
        key_operation;
};

void register_agent_endpoints(http_api& api, agent_control ctl);

// serf.Member's JSON (Name, Addr, Port, Tags, Status as serf's MemberStatus number, Protocol*,
// Delegate*).
nlohmann::json member_json(const wan::member& m);

}  // namespace meshfed::agent::http
