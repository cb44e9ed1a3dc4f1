#pragma once
// The server's in-memory state store (Consul's agent/consul/state, catalog + federation-state
// subset), owned by rpc/.
//
// Owns: the tables nodes, services, checks and federation-states, their raft-style modify
//   indexes (CreateIndex/ModifyIndex per row, and per table the index of the last command that
//   changed it, as Consul's "index" table), the commands that change them, the read queries
//   behind Catalog.*, Health.*, Internal.ServiceDump and FederationState.*, full snapshots,
//   and watches for blocking queries.
// Writes: every change is a `command` (Consul's raft message: a type byte + the msgpack request,
//   see encode_command) applied at a strictly increasing index by apply(). Semantics follow
//   Consul's FSM: registering creates/updates the node, service and checks (rows that are the
//   same apart from their indexes keep their indexes); deregistering a node removes its services
//   and checks, deregistering a service removes its checks; a table's index moves only when a
//   row of it changed. Node names, service IDs/names and check IDs are case-insensitive keys.
// Watches: watch(tables, min_index, cb) calls cb once, after the apply() that first makes the
//   max index of any of `tables` exceed min_index (immediately if it already does). The store is
//   sans-IO: callbacks run synchronously at the end of apply()/restore(), after the store is
//   consistent; they may call back into the store (watch, cancel, queries, even apply).
// Threading: not thread-safe; used from the agent's io_context thread only.
// Errors: apply()/validate()/restore() return store_error {code in store_errc, Consul-like
//   message}; queries never fail. No exceptions.
#include <array>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "rpc/structs.hpp"

namespace meshfed::rpc {

enum class store_errc {
    invalid_command = 1,   // the request is malformed (missing node, bad op, ...)
    index_not_increasing,  // apply() at an index <= last_index()
    conflict,              // e.g. a node ID already used by another node
    unknown_service,       // a check names a service the node does not have
    undecodable,           // a command or snapshot could not be decoded
};

const std::error_category& store_category() noexcept;
std::error_code make_error_code(store_errc e) noexcept;

}  // namespace meshfed::rpc

template <>
struct std::is_error_code_enum<meshfed::rpc::store_errc> : std::true_type {};

namespace meshfed::rpc {

struct store_error {
    std::error_code code;
    std::string message;  // the text an RPC caller sees (Consul's wording where known)
};

// ---- commands (the raft log payload) -----------------------------------------------------------
// Consul's structs.MessageType values.
enum class message_type : std::uint8_t {
    register_request = 0,
    deregister_request = 1,
    federation_state_request = 30,
};
inline constexpr std::uint8_t ignore_unknown_type_flag = 128;

using command = std::variant<register_request, deregister_request, federation_state_request>;

// type byte + msgpack body, exactly as Consul's structs.Encode writes a raft log entry.
std::vector<std::uint8_t> encode_command(const command& c);
// nullopt: an unknown type carrying ignore_unknown_type_flag (Consul skips those).
std::expected<std::optional<command>, std::error_code> decode_command(
    std::span<const std::uint8_t> bytes, const decode_limits& limits = {});

// ---- tables ------------------------------------------------------------------------------------
enum class table : std::uint8_t { nodes = 0, services = 1, checks = 2, federation_states = 3 };
inline constexpr std::size_t table_count = 4;
using table_mask = std::uint32_t;
constexpr table_mask mask(table t) {
    return table_mask{1} << static_cast<unsigned>(t);
}
constexpr table_mask operator|(table a, table b) {
    return mask(a) | mask(b);
}
constexpr table_mask operator|(table_mask a, table b) {
    return a | mask(b);
}
inline constexpr std::string_view table_name(table t) {
    constexpr std::string_view names[] = {"nodes", "services", "checks", "federation-states"};
    return names[static_cast<unsigned>(t)];
}

// The tables each query reads: its QueryMeta.Index is their max index, and a blocking query
// waits on exactly these.
namespace query_tables {
inline constexpr table_mask list_nodes = mask(table::nodes);
inline constexpr table_mask list_services = mask(table::services);
inline constexpr table_mask list_services_filtered = table::nodes | table::services;
inline constexpr table_mask service_nodes = table::nodes | table::services;
inline constexpr table_mask node_services = table::nodes | table::services;
inline constexpr table_mask checks = mask(table::checks);
inline constexpr table_mask health = table::nodes | table::services | table::checks;
inline constexpr table_mask federation_states = mask(table::federation_states);
}  // namespace query_tables

template <class T>
struct indexed {
    std::uint64_t index = 0;  // max index of the tables read
    T value{};
};

class state_store {
  public:
    using watch_id = std::uint64_t;
    using watch_fn = std::function<void()>;

    state_store() = default;
    state_store(const state_store&) = delete;
    state_store& operator=(const state_store&) = delete;

    // ---- writes ----
    // Checks `cmd` against the current state without changing anything (the same checks apply()
    // makes first). Endpoints call it before a command is logged.
    std::expected<void, store_error> validate(const command& cmd) const;
    // Applies `cmd` at `index` (> last_index()). A command that fails validation changes no row
    // but still consumes its index (a Raft FSM sees every committed entry).
    std::expected<void, store_error> apply(std::uint64_t index, const command& cmd);
    std::uint64_t last_index() const { return last_index_; }
    std::uint64_t table_index(table t) const { return table_index_[static_cast<unsigned>(t)]; }
    std::uint64_t max_index(table_mask tables) const;

    // ---- reads (Consul's state functions); index = max index of query_tables::* ----
    indexed<std::vector<node>> list_nodes(const string_map& node_meta_filter = {}) const;
    // service name -> union of tags (first-seen order, no duplicates).
    indexed<std::map<std::string, std::vector<std::string>>> list_services(
        const string_map& node_meta_filter = {}) const;
    // Instances of `service` (case-insensitive) having every tag of `tags` (case-insensitive);
    // ordered by (service, node, service ID).
    indexed<std::vector<service_node>> service_nodes(std::string_view service,
                                                     const std::vector<std::string>& tags = {},
                                                     std::string_view service_address = {}) const;
    // nullopt when the node does not exist.
    indexed<std::optional<node_services>> node_services_of(std::string_view node_name) const;
    indexed<std::vector<health_check>> node_checks(std::string_view node_name) const;
    // state "any" or a status.
    indexed<std::vector<health_check>> checks_in_state(std::string_view state) const;
    // Health.ServiceNodes: node + service + (node checks, then service checks). passing_only
    // drops instances with any check not passing.
    indexed<std::vector<check_service_node>> check_service_nodes(
        std::string_view service, const std::vector<std::string>& tags = {},
        bool passing_only = false) const;
    // Internal.ServiceDump: every instance (of `kind` when use_kind) with its checks.
    indexed<std::vector<check_service_node>> service_dump(std::string_view kind,
                                                          bool use_kind) const;
    indexed<std::optional<federation_state>> federation_state_get(std::string_view dc) const;
    indexed<std::vector<federation_state>> federation_state_list() const;

    // ---- watches ----
    // Returns 0 when cb was called immediately (the condition already held).
    watch_id watch(table_mask tables, std::uint64_t min_index, watch_fn cb);
    bool cancel(watch_id id);
    std::size_t watch_count() const { return watches_.size(); }

    // ---- snapshots ----
    // Full state (msgpack: Index, TableIndexes, Nodes, Services, Checks, FederationStates).
    std::vector<std::uint8_t> snapshot() const;
    // Replaces the whole state; fires every watch whose condition now holds.
    std::expected<void, store_error> restore(std::span<const std::uint8_t> snapshot);

    std::size_t node_count() const { return nodes_.size(); }
    std::size_t service_count() const { return services_.size(); }
    std::size_t check_count() const { return checks_.size(); }

  private:
    using row_key = std::pair<std::string, std::string>;  // (lower node, lower id)
    struct service_row {
        std::string node;  // node name as registered
        node_service service;
    };
    struct watch_entry {
        table_mask tables;
        std::uint64_t min_index;
        watch_fn cb;
    };

    std::expected<void, store_error> apply_register(std::uint64_t index,
                                                    const register_request& req,
                                                    table_mask& changed);
    std::expected<void, store_error> apply_deregister(std::uint64_t index,
                                                      const deregister_request& req,
                                                      table_mask& changed);
    std::expected<void, store_error> apply_federation_state(std::uint64_t index,
                                                            const federation_state_request& req,
                                                            table_mask& changed);
    const node* find_node(std::string_view name) const;
    std::vector<health_check> checks_for(const std::string& lower_node,
                                         const std::string* lower_service_id) const;
    check_service_node make_csn(const node& n, const node_service& s) const;
    void fire_watches();

    std::map<std::string, node> nodes_;  // by lower node name
    std::map<row_key, service_row> services_;
    std::map<row_key, health_check> checks_;
    std::map<std::string, federation_state> federation_states_;  // by datacenter
    std::array<std::uint64_t, table_count> table_index_{};
    std::uint64_t last_index_ = 0;

    std::map<watch_id, watch_entry> watches_;
    watch_id next_watch_ = 1;
};

}  // namespace meshfed::rpc
