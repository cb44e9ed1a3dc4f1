#pragma once
// Consul's catalog / health / federation-state data model (agent/structs) with the msgpack
// encoding Consul servers use on the RPC port (go-msgpack 0.5.5, structs.MsgpackHandle).
//
// Owns: the C++ mirrors of Node, NodeService, ServiceNode, HealthCheck, CheckServiceNode,
//   FederationState and the request/response shapes of Catalog.*, Health.*, Internal.ServiceDump,
//   Status.* and FederationState.*, plus their encoders and bounded decoders.
// Wire form: every struct is a map keyed by the exact Go field name, keys written sorted
//   bytewise (struct_writer), embedded structs flattened (RaftIndex -> CreateIndex/ModifyIndex,
//   QueryOptions, QueryMeta, WriteRequest -> Token; CE's EnterpriseMeta has no fields). Strings
//   use the legacy raw family. Empty collections are written as empty arrays/maps (never nil);
//   absent pointers (*Node, *NodeService, *Weights, *Locality, *FederationState) as nil.
//   Proxy (ConnectProxyConfig), Connect (ServiceConnect), Definition (HealthCheckDefinition) and
//   Locality are kept as opaque msgpack objects and re-emitted byte for byte.
// Decoders: accept keys in any order, skip unknown keys (counted), accept nil for every field
//   (Go zero value), bound every container count and string length before allocating, and
//   never read past the input. No exceptions.
// Threading: plain values; no shared state (decode_counters is caller-owned).
// Errors: std::error_code in rpc::codec_errc: truncated, bad_type (wrong msgpack type or an
//   integer out of range), bad_tag (0xc1), depth_exceeded, message_too_large (a count or
//   length above decode_limits), bad_time (time.Time blob).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/msgpack.hpp"
#include "rpc/msgpack_rpc.hpp"

namespace meshfed::rpc {

// ---- decoding bounds and drop counters ---------------------------------------------------------
struct decode_limits {
    std::size_t max_elements = 65536;          // entries of one map or array
    std::size_t max_string = 4 * 1024 * 1024;  // bytes of one string
    std::size_t max_opaque = 1024 * 1024;      // bytes of one opaque (Proxy, Connect, ...) object
    std::size_t max_depth = 24;                // struct nesting
};

struct decode_counters {
    std::uint64_t unknown_fields = 0;  // keys skipped because no field has that name
    std::uint64_t rejected = 0;        // objects rejected (any error)
    std::uint64_t oversized = 0;       // of which: a count/length above decode_limits
};

using string_map = std::map<std::string, std::string>;

// A msgpack object kept as bytes (exactly one object, or empty = absent).
struct opaque_struct {  // a Go struct value: absent is written as an empty map 0x80
    std::vector<std::uint8_t> bytes;
    bool operator==(const opaque_struct&) const = default;
};
struct opaque_ptr {  // a Go pointer: absent is written as nil 0xc0
    std::vector<std::uint8_t> bytes;
    bool operator==(const opaque_ptr&) const = default;
};

// ---- entities ----------------------------------------------------------------------------------
struct weights {  // structs.Weights
    std::int64_t passing = 1;
    std::int64_t warning = 1;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Passing", s.passing);
        v("Warning", s.warning);
    }
    bool operator==(const weights&) const = default;
};

struct service_address {  // structs.ServiceAddress
    std::string address;
    std::int64_t port = 0;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Address", s.address);
        v("Port", s.port);
    }
    bool operator==(const service_address&) const = default;
};

struct query_source {  // structs.QuerySource
    std::string datacenter, segment, node, node_partition, ip;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Datacenter", s.datacenter);
        v("Segment", s.segment);
        v("Node", s.node);
        v("NodePartition", s.node_partition);
        v("Ip", s.ip);
    }
    bool operator==(const query_source&) const = default;
};

struct node {          // structs.Node
    std::string id;    // types.NodeID (UUID or "")
    std::string name;  // Go field "Node"
    std::string address;
    std::string datacenter;
    std::string partition;
    std::string peer_name;
    string_map tagged_addresses;
    string_map meta;
    opaque_ptr locality;
    std::uint64_t create_index = 0;
    std::uint64_t modify_index = 0;

    template <class S, class V>
    static void fields(S& s, V& v) {
        v("ID", s.id);
        v("Node", s.name);
        v("Address", s.address);
        v("Datacenter", s.datacenter);
        v("Partition", s.partition);
        v("PeerName", s.peer_name);
        v("TaggedAddresses", s.tagged_addresses);
        v("Meta", s.meta);
        v("Locality", s.locality);
        v("CreateIndex", s.create_index);
        v("ModifyIndex", s.modify_index);
    }
    bool operator==(const node&) const = default;
};

struct node_service {  // structs.NodeService
    std::string kind;  // "", "connect-proxy", "mesh-gateway", ...
    std::string id;
    std::string service;
    std::vector<std::string> tags;
    std::string address;
    std::map<std::string, service_address> tagged_addresses;
    string_map meta;
    std::int64_t port = 0;
    std::string socket_path;
    std::optional<weights> weights_;
    bool enable_tag_override = false;
    opaque_ptr locality;
    opaque_struct proxy;    // ConnectProxyConfig
    opaque_struct connect;  // ServiceConnect
    bool locally_registered_as_sidecar = false;
    std::string peer_name;
    std::uint64_t create_index = 0;
    std::uint64_t modify_index = 0;

    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Kind", s.kind);
        v("ID", s.id);
        v("Service", s.service);
        v("Tags", s.tags);
        v("Address", s.address);
        v("TaggedAddresses", s.tagged_addresses);
        v("Meta", s.meta);
        v("Port", s.port);
        v("SocketPath", s.socket_path);
        v("Weights", s.weights_);
        v("EnableTagOverride", s.enable_tag_override);
        v("Locality", s.locality);
        v("Proxy", s.proxy);
        v("Connect", s.connect);
        v("LocallyRegisteredAsSidecar", s.locally_registered_as_sidecar);
        v("PeerName", s.peer_name);
        v("CreateIndex", s.create_index);
        v("ModifyIndex", s.modify_index);
    }
    bool operator==(const node_service&) const = default;
};

// structs.ServiceNode: a service joined with its node (Catalog.ServiceNodes).
struct service_node {
    std::string id;  // node ID
    std::string node;
    std::string address;
    std::string datacenter;
    string_map tagged_addresses;
    string_map node_meta;
    std::string service_kind;
    std::string service_id;
    std::string service_name;
    std::vector<std::string> service_tags;
    std::string service_addr;  // Go field "ServiceAddress"
    std::map<std::string, rpc::service_address> service_tagged_addresses;
    weights service_weights;
    string_map service_meta;
    std::int64_t service_port = 0;
    std::string service_socket_path;
    bool service_enable_tag_override = false;
    opaque_struct service_proxy;
    opaque_struct service_connect;
    opaque_ptr service_locality;
    std::string peer_name;
    std::uint64_t create_index = 0;
    std::uint64_t modify_index = 0;

    template <class S, class V>
    static void fields(S& s, V& v) {
        v("ID", s.id);
        v("Node", s.node);
        v("Address", s.address);
        v("Datacenter", s.datacenter);
        v("TaggedAddresses", s.tagged_addresses);
        v("NodeMeta", s.node_meta);
        v("ServiceKind", s.service_kind);
        v("ServiceID", s.service_id);
        v("ServiceName", s.service_name);
        v("ServiceTags", s.service_tags);
        v("ServiceAddress", s.service_addr);
        v("ServiceTaggedAddresses", s.service_tagged_addresses);
        v("ServiceWeights", s.service_weights);
        v("ServiceMeta", s.service_meta);
        v("ServicePort", s.service_port);
        v("ServiceSocketPath", s.service_socket_path);
        v("ServiceEnableTagOverride", s.service_enable_tag_override);
        v("ServiceProxy", s.service_proxy);
        v("ServiceConnect", s.service_connect);
        v("ServiceLocality", s.service_locality);
        v("PeerName", s.peer_name);
        v("CreateIndex", s.create_index);
        v("ModifyIndex", s.modify_index);
    }
    bool operator==(const service_node&) const = default;
};

inline constexpr std::string_view health_passing = "passing";
inline constexpr std::string_view health_warning = "warning";
inline constexpr std::string_view health_critical = "critical";
inline constexpr std::string_view health_maintenance = "maintenance";

struct health_check {  // structs.HealthCheck
    std::string node;
    std::string check_id;
    std::string name;
    std::string status;  // passing | warning | critical | maintenance
    std::string notes;
    std::string output;
    std::string service_id;
    std::string service_name;
    std::vector<std::string> service_tags;
    std::string type;
    std::string interval;  // from the definition, as text
    std::string timeout;
    std::int64_t exposed_port = 0;
    std::string peer_name;
    opaque_struct definition;  // HealthCheckDefinition
    std::uint64_t create_index = 0;
    std::uint64_t modify_index = 0;

    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Node", s.node);
        v("CheckID", s.check_id);
        v("Name", s.name);
        v("Status", s.status);
        v("Notes", s.notes);
        v("Output", s.output);
        v("ServiceID", s.service_id);
        v("ServiceName", s.service_name);
        v("ServiceTags", s.service_tags);
        v("Type", s.type);
        v("Interval", s.interval);
        v("Timeout", s.timeout);
        v("ExposedPort", s.exposed_port);
        v("PeerName", s.peer_name);
        v("Definition", s.definition);
        v("CreateIndex", s.create_index);
        v("ModifyIndex", s.modify_index);
    }
    bool operator==(const health_check&) const = default;
};

struct check_service_node {  // structs.CheckServiceNode
    std::optional<node> node_;
    std::optional<node_service> service;
    std::vector<health_check> checks;

    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Node", s.node_);
        v("Service", s.service);
        v("Checks", s.checks);
    }
    bool operator==(const check_service_node&) const = default;
};

struct federation_state {  // structs.FederationState
    std::string datacenter;
    std::vector<check_service_node> mesh_gateways;
    go_time updated_at;
    std::uint64_t primary_modify_index = 0;
    std::uint64_t create_index = 0;
    std::uint64_t modify_index = 0;

    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Datacenter", s.datacenter);
        v("MeshGateways", s.mesh_gateways);
        v("UpdatedAt", s.updated_at);
        v("PrimaryModifyIndex", s.primary_modify_index);
        v("CreateIndex", s.create_index);
        v("ModifyIndex", s.modify_index);
    }
    bool operator==(const federation_state&) const = default;
};

struct node_services {  // structs.NodeServices
    std::optional<node> node_;
    std::map<std::string, node_service> services;  // by service ID

    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Node", s.node_);
        v("Services", s.services);
    }
    bool operator==(const node_services&) const = default;
};

// The state store's snapshot image (not a Consul type; see state_store::snapshot).
struct snapshot_service {
    std::string node;
    node_service service;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Node", s.node);
        v("Service", s.service);
    }
};

struct state_snapshot {
    std::uint64_t index = 0;
    std::vector<std::uint64_t> table_indexes;
    std::vector<node> nodes;
    std::vector<snapshot_service> services;
    std::vector<health_check> checks;
    std::vector<federation_state> federation_states;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Index", s.index);
        v("TableIndexes", s.table_indexes);
        v("Nodes", s.nodes);
        v("Services", s.services);
        v("Checks", s.checks);
        v("FederationStates", s.federation_states);
    }
};

// ---- requests ----------------------------------------------------------------------------------
struct register_request {  // structs.RegisterRequest (Catalog.Register; raft type 0)
    std::string datacenter;
    std::string id;
    std::string node;
    std::string address;
    string_map tagged_addresses;
    string_map node_meta;
    std::optional<node_service> service;
    std::optional<health_check> check;
    std::vector<health_check> checks;
    opaque_ptr locality;
    bool skip_node_update = false;
    std::string peer_name;
    std::string token;
    std::uint64_t create_index = 0;
    std::uint64_t modify_index = 0;

    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Datacenter", s.datacenter);
        v("ID", s.id);
        v("Node", s.node);
        v("Address", s.address);
        v("TaggedAddresses", s.tagged_addresses);
        v("NodeMeta", s.node_meta);
        v("Service", s.service);
        v("Check", s.check);
        v("Checks", s.checks);
        v("Locality", s.locality);
        v("SkipNodeUpdate", s.skip_node_update);
        v("PeerName", s.peer_name);
        v("Token", s.token);
        v("CreateIndex", s.create_index);
        v("ModifyIndex", s.modify_index);
    }
    bool operator==(const register_request&) const = default;
};

struct deregister_request {  // structs.DeregisterRequest (Catalog.Deregister; raft type 1)
    std::string datacenter;
    std::string node;
    std::string service_id;
    std::string check_id;
    std::string peer_name;
    std::string token;

    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Datacenter", s.datacenter);
        v("Node", s.node);
        v("ServiceID", s.service_id);
        v("CheckID", s.check_id);
        v("PeerName", s.peer_name);
        v("Token", s.token);
    }
    bool operator==(const deregister_request&) const = default;
};

inline constexpr std::string_view federation_state_upsert = "upsert";
inline constexpr std::string_view federation_state_delete = "delete";

struct federation_state_request {  // structs.FederationStateRequest (raft type 30)
    std::string datacenter;
    std::string op;  // "upsert" | "delete"
    std::optional<federation_state> state;
    std::string token;

    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Datacenter", s.datacenter);
        v("Op", s.op);
        v("State", s.state);
        v("Token", s.token);
    }
    bool operator==(const federation_state_request&) const = default;
};

struct datacenters_request {  // structs.DatacentersRequest
    query_options options;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v.flat(s.options);
    }
};

struct dc_specific_request {  // structs.DCSpecificRequest
    std::string datacenter;
    string_map node_meta_filters;
    query_source source;
    std::string peer_name;
    query_options options;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Datacenter", s.datacenter);
        v("NodeMetaFilters", s.node_meta_filters);
        v("Source", s.source);
        v("PeerName", s.peer_name);
        v.flat(s.options);
    }
};

struct service_specific_request {  // structs.ServiceSpecificRequest
    std::string datacenter;
    std::string peer_name;
    string_map node_meta_filters;
    std::string service_name;
    std::string service_kind;
    std::string service_tag;  // deprecated singular tag (agents < 1.3, DNS)
    std::vector<std::string> service_tags;
    std::string service_address;
    bool tag_filter = false;
    query_source source;
    bool connect = false;
    bool ingress = false;
    bool merge_central_config = false;
    query_options options;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Datacenter", s.datacenter);
        v("PeerName", s.peer_name);
        v("NodeMetaFilters", s.node_meta_filters);
        v("ServiceName", s.service_name);
        v("ServiceKind", s.service_kind);
        v("ServiceTag", s.service_tag);
        v("ServiceTags", s.service_tags);
        v("ServiceAddress", s.service_address);
        v("TagFilter", s.tag_filter);
        v("Source", s.source);
        v("Connect", s.connect);
        v("Ingress", s.ingress);
        v("MergeCentralConfig", s.merge_central_config);
        v.flat(s.options);
    }
};

struct node_specific_request {  // structs.NodeSpecificRequest
    std::string datacenter;
    std::string node;
    std::string peer_name;
    bool merge_central_config = false;
    query_options options;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Datacenter", s.datacenter);
        v("Node", s.node);
        v("PeerName", s.peer_name);
        v("MergeCentralConfig", s.merge_central_config);
        v.flat(s.options);
    }
};

struct service_dump_request {  // structs.ServiceDumpRequest
    std::string datacenter;
    std::string service_kind;
    bool use_service_kind = false;
    query_source source;
    std::string peer_name;
    bool nodes_only = false;
    query_options options;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Datacenter", s.datacenter);
        v("ServiceKind", s.service_kind);
        v("UseServiceKind", s.use_service_kind);
        v("Source", s.source);
        v("PeerName", s.peer_name);
        v("NodesOnly", s.nodes_only);
        v.flat(s.options);
    }
};

struct federation_state_query {     // structs.FederationStateQuery
    std::string datacenter;         // whose state
    std::string target_datacenter;  // where the RPC is routed
    query_options options;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Datacenter", s.datacenter);
        v("TargetDatacenter", s.target_datacenter);
        v.flat(s.options);
    }
};

// ---- replies -----------------------------------------------------------------------------------
struct indexed_nodes {  // structs.IndexedNodes
    std::vector<node> nodes;
    query_meta meta;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Nodes", s.nodes);
        v.flat(s.meta);
    }
};

struct indexed_services {                                      // structs.IndexedServices
    std::map<std::string, std::vector<std::string>> services;  // name -> union of tags
    query_meta meta;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Services", s.services);
        v.flat(s.meta);
    }
};

struct indexed_service_nodes {  // structs.IndexedServiceNodes
    std::vector<service_node> service_nodes;
    query_meta meta;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("ServiceNodes", s.service_nodes);
        v.flat(s.meta);
    }
};

struct indexed_node_services {  // structs.IndexedNodeServices (NodeServices nil: unknown node)
    std::optional<node_services> node_services_;
    query_meta meta;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("NodeServices", s.node_services_);
        v.flat(s.meta);
    }
};

struct indexed_health_checks {  // structs.IndexedHealthChecks
    std::vector<health_check> health_checks;
    query_meta meta;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("HealthChecks", s.health_checks);
        v.flat(s.meta);
    }
};

struct indexed_check_service_nodes {  // structs.IndexedCheckServiceNodes
    std::vector<check_service_node> nodes;
    query_meta meta;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Nodes", s.nodes);
        v.flat(s.meta);
    }
};

// structs.IndexedNodesWithGateways (Internal.ServiceDump, Consul >= 1.9). Decodes as
// IndexedCheckServiceNodes for older clients: they ignore Gateways/ImportedNodes.
struct indexed_nodes_with_gateways {
    std::vector<check_service_node> nodes;
    std::vector<check_service_node> imported_nodes;
    std::vector<opaque_struct> gateways;  // GatewayServices, kept opaque (empty here)
    query_meta meta;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("Nodes", s.nodes);
        v("ImportedNodes", s.imported_nodes);
        v("Gateways", s.gateways);
        v.flat(s.meta);
    }
};

struct federation_state_response {  // structs.FederationStateResponse
    std::optional<federation_state> state;
    query_meta meta;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("State", s.state);
        v.flat(s.meta);
    }
};

struct indexed_federation_states {  // structs.IndexedFederationStates
    std::vector<federation_state> states;
    query_meta meta;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("States", s.states);
        v.flat(s.meta);
    }
};

struct datacenter_indexed_check_service_nodes {  // structs.DatacenterIndexedCheckServiceNodes
    std::map<std::string, std::vector<check_service_node>> datacenter_nodes;
    query_meta meta;
    template <class S, class V>
    static void fields(S& s, V& v) {
        v("DatacenterNodes", s.datacenter_nodes);
        v.flat(s.meta);
    }
};

// ---- codec entry points ------------------------------------------------------------------------
// Supported T: every struct above (explicitly instantiated in structs.cpp).
template <class T>
void encode_value(msgpack::writer& w, const T& value);

template <class T>
std::vector<std::uint8_t> encode_to_bytes(const T& value) {
    std::vector<std::uint8_t> out;
    msgpack::writer w(out);
    encode_value(w, value);
    return out;
}

// Reads exactly one object from `r` (trailing input is left unread).
template <class T>
std::expected<T, std::error_code> decode_value(msgpack::reader& r, const decode_limits& limits = {},
                                               decode_counters* counters = nullptr);

template <class T>
std::expected<T, std::error_code> decode_from_bytes(std::span<const std::uint8_t> bytes,
                                                    const decode_limits& limits = {},
                                                    decode_counters* counters = nullptr) {
    msgpack::reader r(bytes, limits.max_depth + 8);
    return decode_value<T>(r, limits, counters);
}

// Helpers shared by the store and the endpoints.
// NodeService + Node -> ServiceNode (Consul's ToServiceNode + node fields).
service_node to_service_node(const node& n, const node_service& s);
// Consul's node-meta filter (?node-meta=k:v): `meta` has every pair of `filter`.
bool satisfies_meta(const string_map& meta, const string_map& filter);
// Consul's IsSame comparisons (RaftIndex ignored).
bool same_node(const node& a, const node& b);
bool same_service(const node_service& a, const node_service& b);
bool same_check(const health_check& a, const health_check& b);
// Lower-cases ASCII (Consul's case-insensitive node / service name indexes).
std::string ascii_lower(std::string_view s);

}  // namespace meshfed::rpc
