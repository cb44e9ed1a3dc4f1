#pragma once
// The CLI verbs that talk to a running agent over its HTTP API, with Consul's flags, output
// layout, texts and exit codes: `members`, `catalog datacenters|services|nodes`, `join`,
// `force-leave`, `leave`, `keyring`, `info`.
// Two layers: pure formatters (API JSON -> the exact text Consul's command prints; tested
// against fixtures shaped like Consul's responses) and runners (validate flags as Consul does,
// call the agent through cli::api_client, print). Where Consul prints a Go map in random order
// (keyring keys and messages) the text is sorted instead.
// Errors: exit codes as Consul's commands (0 ok, 1 error, 2 for `members` matching nothing);
// bodies of any shape are handled without throwing.
#include <cstdint>
#include <expected>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/cli_http.hpp"

namespace CLI {
class App;
}

namespace meshfed::agent::cli {

// ryanuber/columnize as Consul's commands configure it (Delim 0x1f): fields trimmed, each
// column but a line's last padded to the column's widest field plus two spaces, no final
// newline.
std::string columnize(const std::vector<std::string>& lines, char delim = '\x1f');

// serf.MemberStatus names for the numeric Status of /v1/agent/members.
std::string member_status_name(std::int64_t status);

// What a verb writes to stdout and stderr, and its exit code.
struct verb_output {
    int code = 0;
    std::string out, err;
};

struct members_options {
    bool detailed = false, wan = false;
    std::string status = ".*";  // regular expression on the status name
    std::string filter;         // ?filter= expression, passed through
};
// /v1/agent/members -> `consul members` text (code 2 and no text when nothing matches).
verb_output format_members(const nlohmann::json& members, const members_options& opts);
// /v1/catalog/datacenters -> one per line.
verb_output format_datacenters(const nlohmann::json& datacenters);
// {"name": [tags]} -> names, or names and sorted comma-joined tags with `-tags`.
verb_output format_services(const nlohmann::json& services, bool tags);
// /v1/catalog/node/<node> -> {"name": [tags of every instance]} (null when the node is unknown).
nlohmann::json services_of_node(const nlohmann::json& catalog_node);
// /v1/catalog/nodes -> `Node ID Address DC` table (`-detailed` adds TaggedAddresses, Meta).
verb_output format_nodes(const nlohmann::json& nodes, bool detailed);
// /v1/catalog/service/<name> -> the node list `catalog nodes -service` prints.
nlohmann::json nodes_of_service(const nlohmann::json& service_nodes);
// /v1/operator/keyring -> the pools with their keys (`primary`: PrimaryKeys instead of Keys).
verb_output format_keyring(const nlohmann::json& responses, bool primary);
// /v1/agent/self -> the sorted Stats sections of `consul info`.
verb_output format_info(const nlohmann::json& self);

// The HTTP configuration, or the text after "Error connecting to Consul agent: ".
using config_result = std::expected<http_config, std::string>;

struct services_options {
    std::string node;
    std::vector<std::string> node_meta;  // key=value
    bool tags = false;
};
struct nodes_options {
    bool detailed = false;
    std::string near, service, filter;
    std::vector<std::string> node_meta;
};
struct keyring_options {
    std::string install, use, remove;
    bool list = false, list_primary = false, local_only = false;
    int relay_factor = 0;
};

// Runners: Consul's argument checks first, then the client (a config error prints
// "Error connecting to Consul agent: ..."), then the request. `help` is the verb's usage
// text, printed where Consul prints it.
int run_members(const config_result& config, const members_options& opts, std::ostream& out,
                std::ostream& err);
int run_catalog_datacenters(const config_result& config, std::ostream& out, std::ostream& err);
int run_catalog_services(const config_result& config, const services_options& opts,
                         std::ostream& out, std::ostream& err);
int run_catalog_nodes(const config_result& config, const nodes_options& opts, std::ostream& out,
                      std::ostream& err);
int run_join(const config_result& config, const std::vector<std::string>& addresses, bool wan,
             const std::string& help, std::ostream& out, std::ostream& err);
int run_force_leave(const config_result& config, const std::vector<std::string>& nodes, bool prune,
                    bool wan, const std::string& help, std::ostream& out, std::ostream& err);
int run_leave(const config_result& config, const std::vector<std::string>& extra_args,
              const std::string& help, std::ostream& out, std::ostream& err);
int run_keyring(const config_result& config, const keyring_options& opts, const std::string& help,
                std::ostream& out, std::ostream& err);
int run_info(const config_result& config, std::ostream& out, std::ostream& err);

// Registers the verbs (with Go-style flags: the caller normalises -flag to --flag) on the
// `meshfed` CLI and runs the one that was parsed.
class http_verbs {
  public:
    http_verbs();
    ~http_verbs();
    http_verbs(const http_verbs&) = delete;
    http_verbs& operator=(const http_verbs&) = delete;

    void add_to(CLI::App& app);
    // nullopt when none of these verbs was on the command line.
    std::optional<int> run(std::ostream& out, std::ostream& err, const env_lookup& env);

  private:
    struct state;
    std::unique_ptr<state> state_;
};

}  // namespace meshfed::agent::cli
