#include "rpc/state_store.hpp"

#include <algorithm>
#include <tuple>

#include <fmt/format.h>

namespace meshfed::rpc {

namespace {

class store_category_impl : public std::error_category {
  public:
    const char* name() const noexcept override { return "state-store"; }
    std::string message(int ev) const override {
        switch (static_cast<store_errc>(ev)) {
            case store_errc::invalid_command:
                return "state store: invalid command";
            case store_errc::index_not_increasing:
                return "state store: index not increasing";
            case store_errc::conflict:
                return "state store: conflicting registration";
            case store_errc::unknown_service:
                return "state store: unknown service";
            case store_errc::undecodable:
                return "state store: undecodable command or snapshot";
        }
        return "state store: unknown error";
    }
};

std::unexpected<store_error> fail(store_errc e, std::string message) {
    return std::unexpected(store_error{make_error_code(e), std::move(message)});
}

bool has_all_tags(const std::vector<std::string>& have, const std::vector<std::string>& want) {
    for (const auto& w : want) {
        const auto lw = ascii_lower(w);
        bool found = false;
        for (const auto& h : have) {
            if (ascii_lower(h) == lw) {
                found = true;
                break;
            }
        }
        if (!found) return false;
    }
    return true;
}

// A register request with Consul's endpoint/FSM normalisation applied: single Check folded into
// Checks, service ID defaulted to the name, check node and ID defaulted.
struct normalized_register {
    std::optional<node_service> service;
    std::vector<health_check> checks;
};

normalized_register normalize(const register_request& req) {
    normalized_register n;
    n.service = req.service;
    if (n.service && n.service->id.empty()) n.service->id = n.service->service;
    n.checks = req.checks;
    if (req.check) n.checks.push_back(*req.check);
    for (auto& c : n.checks) {
        if (c.node.empty()) c.node = req.node;
        if (c.check_id.empty()) c.check_id = c.name;
    }
    return n;
}

}  // namespace

const std::error_category& store_category() noexcept {
    static const store_category_impl cat;
    return cat;
}

std::error_code make_error_code(store_errc e) noexcept {
    return {static_cast<int>(e), store_category()};
}

// ---- commands ----------------------------------------------------------------------------------
std::vector<std::uint8_t> encode_command(const command& c) {
    std::vector<std::uint8_t> out;
    msgpack::writer w(out);
    std::visit(
        [&](const auto& req) {
            using T = std::decay_t<decltype(req)>;
            if constexpr (std::is_same_v<T, register_request>) {
                out.push_back(static_cast<std::uint8_t>(message_type::register_request));
            } else if constexpr (std::is_same_v<T, deregister_request>) {
                out.push_back(static_cast<std::uint8_t>(message_type::deregister_request));
            } else {
                out.push_back(static_cast<std::uint8_t>(message_type::federation_state_request));
            }
            encode_value(w, req);
        },
        c);
    return out;
}

std::expected<std::optional<command>, std::error_code> decode_command(
    std::span<const std::uint8_t> bytes, const decode_limits& limits) {
    if (bytes.empty()) return std::unexpected(make_error_code(codec_errc::truncated));
    const auto type = bytes[0];
    const auto body = bytes.subspan(1);
    switch (type) {
        case static_cast<std::uint8_t>(message_type::register_request): {
            auto r = decode_from_bytes<register_request>(body, limits);
            if (!r) return std::unexpected(r.error());
            return command{std::move(*r)};
        }
        case static_cast<std::uint8_t>(message_type::deregister_request): {
            auto r = decode_from_bytes<deregister_request>(body, limits);
            if (!r) return std::unexpected(r.error());
            return command{std::move(*r)};
        }
        case static_cast<std::uint8_t>(message_type::federation_state_request): {
            auto r = decode_from_bytes<federation_state_request>(body, limits);
            if (!r) return std::unexpected(r.error());
            return command{std::move(*r)};
        }
        default:
            if (type & ignore_unknown_type_flag) return std::optional<command>{};
            return std::unexpected(make_error_code(store_errc::undecodable));
    }
}

// ---- writes ------------------------------------------------------------------------------------
std::uint64_t state_store::max_index(table_mask tables) const {
    std::uint64_t m = 0;
    for (std::size_t i = 0; i < table_count; ++i) {
        if (tables & (table_mask{1} << i)) m = std::max(m, table_index_[i]);
    }
    return m;
}

const node* state_store::find_node(std::string_view name) const {
    auto it = nodes_.find(ascii_lower(name));
    return it == nodes_.end() ? nullptr : &it->second;
}

std::expected<void, store_error> state_store::validate(const command& cmd) const {
    if (auto* reg = std::get_if<register_request>(&cmd)) {
        if (reg->node.empty()) return fail(store_errc::invalid_command, "Must provide node");
        const auto lower_node = ascii_lower(reg->node);
        if (!reg->id.empty()) {
            for (const auto& [key, n] : nodes_) {
                if (key != lower_node && ascii_lower(n.id) == ascii_lower(reg->id)) {
                    return fail(store_errc::conflict,
                                fmt::format("failed inserting node: node ID \"{}\" is already "
                                            "in use by node \"{}\"",
                                            reg->id, n.name));
                }
            }
        }
        const auto norm = normalize(*reg);
        if (norm.service && norm.service->service.empty()) {
            return fail(store_errc::invalid_command, "Must provide service name with ID");
        }
        for (const auto& c : norm.checks) {
            if (ascii_lower(c.node) != lower_node) {
                return fail(store_errc::invalid_command,
                            fmt::format("Node '{}' for check '{}' doesn't match register request "
                                        "node '{}'",
                                        c.node, c.check_id, reg->node));
            }
            if (c.check_id.empty()) {
                return fail(store_errc::invalid_command, "Missing check ID");
            }
            if (!c.service_id.empty()) {
                const auto lower_sid = ascii_lower(c.service_id);
                const bool in_request = norm.service && ascii_lower(norm.service->id) == lower_sid;
                if (!in_request && !services_.contains({lower_node, lower_sid})) {
                    return fail(store_errc::unknown_service,
                                fmt::format("Unknown service ID '{}' for check ID '{}'",
                                            c.service_id, c.check_id));
                }
            }
        }
        return {};
    }
    if (auto* dereg = std::get_if<deregister_request>(&cmd)) {
        if (dereg->node.empty()) return fail(store_errc::invalid_command, "Must provide node");
        return {};
    }
    const auto& fs = std::get<federation_state_request>(cmd);
    if (fs.op != federation_state_upsert && fs.op != federation_state_delete) {
        return fail(store_errc::invalid_command,
                    fmt::format("Invalid federation state operation: {}", fs.op));
    }
    if (!fs.state || fs.state->datacenter.empty()) {
        return fail(store_errc::invalid_command,
                    "invalid request: missing federation state datacenter");
    }
    return {};
}

std::expected<void, store_error> state_store::apply(std::uint64_t index, const command& cmd) {
    if (index <= last_index_) {
        return fail(
            store_errc::index_not_increasing,
            fmt::format("index {} is not above the last applied index {}", index, last_index_));
    }
    last_index_ = index;
    if (auto v = validate(cmd); !v) return v;
    table_mask changed = 0;
    std::expected<void, store_error> r;
    if (auto* reg = std::get_if<register_request>(&cmd)) {
        r = apply_register(index, *reg, changed);
    } else if (auto* dereg = std::get_if<deregister_request>(&cmd)) {
        r = apply_deregister(index, *dereg, changed);
    } else {
        r = apply_federation_state(index, std::get<federation_state_request>(cmd), changed);
    }
    for (std::size_t i = 0; i < table_count; ++i) {
        if (changed & (table_mask{1} << i)) table_index_[i] = index;
    }
    if (changed) fire_watches();
    return r;
}

std::expected<void, store_error> state_store::apply_register(std::uint64_t index,
                                                             const register_request& req,
                                                             table_mask& changed) {
    const auto lower_node = ascii_lower(req.node);
    const auto norm = normalize(req);

    // Node.
    node wanted;
    wanted.id = req.id;
    wanted.name = req.node;
    wanted.address = req.address;
    wanted.datacenter = req.datacenter;
    wanted.peer_name = req.peer_name;
    wanted.tagged_addresses = req.tagged_addresses;
    wanted.meta = req.node_meta;
    wanted.locality = req.locality;
    auto nit = nodes_.find(lower_node);
    if (nit == nodes_.end()) {
        wanted.create_index = wanted.modify_index = index;
        nodes_.emplace(lower_node, std::move(wanted));
        changed |= mask(table::nodes);
    } else if (!req.skip_node_update && !same_node(nit->second, wanted)) {
        wanted.create_index = nit->second.create_index;
        wanted.modify_index = index;
        nit->second = std::move(wanted);
        changed |= mask(table::nodes);
    }
    const std::string& node_name = nodes_.at(lower_node).name;

    // Service.
    if (norm.service) {
        node_service svc = *norm.service;
        if (!svc.weights_) svc.weights_ = weights{};
        row_key key{lower_node, ascii_lower(svc.id)};
        auto sit = services_.find(key);
        if (sit == services_.end()) {
            svc.create_index = svc.modify_index = index;
            services_.emplace(std::move(key), service_row{node_name, std::move(svc)});
            changed |= mask(table::services);
        } else if (!same_service(sit->second.service, svc)) {
            svc.create_index = sit->second.service.create_index;
            svc.modify_index = index;
            sit->second = service_row{node_name, std::move(svc)};
            changed |= mask(table::services);
        }
    }

    // Checks.
    for (auto c : norm.checks) {
        c.node = node_name;
        if (c.status.empty()) c.status = health_critical;
        if (!c.service_id.empty()) {
            auto sit = services_.find({lower_node, ascii_lower(c.service_id)});
            if (sit != services_.end()) {
                c.service_id = sit->second.service.id;
                c.service_name = sit->second.service.service;
                c.service_tags = sit->second.service.tags;
            }
        } else {
            c.service_name.clear();
            c.service_tags.clear();
        }
        row_key key{lower_node, ascii_lower(c.check_id)};
        auto cit = checks_.find(key);
        if (cit == checks_.end()) {
            c.create_index = c.modify_index = index;
            checks_.emplace(std::move(key), std::move(c));
            changed |= mask(table::checks);
        } else if (!same_check(cit->second, c)) {
            c.create_index = cit->second.create_index;
            c.modify_index = index;
            cit->second = std::move(c);
            changed |= mask(table::checks);
        }
    }
    return {};
}

std::expected<void, store_error> state_store::apply_deregister(std::uint64_t,
                                                               const deregister_request& req,
                                                               table_mask& changed) {
    const auto lower_node = ascii_lower(req.node);
    auto erase_checks = [&](auto pred) {
        for (auto it = checks_.lower_bound({lower_node, std::string{}});
             it != checks_.end() && it->first.first == lower_node;) {
            if (pred(it->second)) {
                it = checks_.erase(it);
                changed |= mask(table::checks);
            } else {
                ++it;
            }
        }
    };
    if (req.service_id.empty() && req.check_id.empty()) {
        if (nodes_.erase(lower_node) == 0) return {};
        changed |= mask(table::nodes);
        for (auto it = services_.lower_bound({lower_node, std::string{}});
             it != services_.end() && it->first.first == lower_node;) {
            it = services_.erase(it);
            changed |= mask(table::services);
        }
        erase_checks([](const health_check&) { return true; });
        return {};
    }
    if (!req.service_id.empty()) {
        const auto lower_sid = ascii_lower(req.service_id);
        if (services_.erase({lower_node, lower_sid}) > 0) {
            changed |= mask(table::services);
            erase_checks(
                [&](const health_check& c) { return ascii_lower(c.service_id) == lower_sid; });
        }
    }
    if (!req.check_id.empty()) {
        if (checks_.erase({lower_node, ascii_lower(req.check_id)}) > 0) {
            changed |= mask(table::checks);
        }
    }
    return {};
}

std::expected<void, store_error> state_store::apply_federation_state(
    std::uint64_t index, const federation_state_request& req, table_mask& changed) {
    const auto& dc = req.state->datacenter;
    if (req.op == federation_state_delete) {
        if (federation_states_.erase(dc) > 0) changed |= mask(table::federation_states);
        return {};
    }
    federation_state st = *req.state;
    auto it = federation_states_.find(dc);
    st.create_index = it == federation_states_.end() ? index : it->second.create_index;
    st.modify_index = index;
    federation_states_.insert_or_assign(dc, std::move(st));
    changed |= mask(table::federation_states);
    return {};
}

// ---- reads -------------------------------------------------------------------------------------
indexed<std::vector<node>> state_store::list_nodes(const string_map& filter) const {
    indexed<std::vector<node>> out{max_index(query_tables::list_nodes), {}};
    for (const auto& [key, n] : nodes_) {
        if (satisfies_meta(n.meta, filter)) out.value.push_back(n);
    }
    return out;
}

indexed<std::map<std::string, std::vector<std::string>>> state_store::list_services(
    const string_map& filter) const {
    indexed<std::map<std::string, std::vector<std::string>>> out;
    out.index = max_index(filter.empty() ? query_tables::list_services
                                         : query_tables::list_services_filtered);
    for (const auto& [key, row] : services_) {
        if (!filter.empty()) {
            const node* n = find_node(key.first);
            if (!n || !satisfies_meta(n->meta, filter)) continue;
        }
        auto& tags = out.value[row.service.service];
        for (const auto& t : row.service.tags) {
            if (std::find(tags.begin(), tags.end(), t) == tags.end()) tags.push_back(t);
        }
    }
    return out;
}

indexed<std::vector<service_node>> state_store::service_nodes(
    std::string_view service, const std::vector<std::string>& tags,
    std::string_view service_address) const {
    using sort_key = std::tuple<std::string, std::string, std::string>;
    std::vector<std::pair<sort_key, service_node>> found;
    const auto lower_name = ascii_lower(service);
    for (const auto& [key, row] : services_) {
        if (!service_address.empty()) {
            if (row.service.address != service_address) continue;
        } else if (ascii_lower(row.service.service) != lower_name) {
            continue;
        }
        if (!has_all_tags(row.service.tags, tags)) continue;
        const node* n = find_node(key.first);
        if (!n) continue;
        found.emplace_back(sort_key{ascii_lower(row.service.service), key.first, key.second},
                           to_service_node(*n, row.service));
    }
    std::sort(found.begin(), found.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    indexed<std::vector<service_node>> out{max_index(query_tables::service_nodes), {}};
    out.value.reserve(found.size());
    for (auto& f : found) out.value.push_back(std::move(f.second));
    return out;
}

indexed<std::optional<node_services>> state_store::node_services_of(
    std::string_view node_name) const {
    indexed<std::optional<node_services>> out{max_index(query_tables::node_services), {}};
    const auto lower = ascii_lower(node_name);
    auto nit = nodes_.find(lower);
    if (nit == nodes_.end()) return out;
    node_services ns;
    ns.node_ = nit->second;
    for (auto it = services_.lower_bound({lower, std::string{}});
         it != services_.end() && it->first.first == lower; ++it) {
        ns.services.emplace(it->second.service.id, it->second.service);
    }
    out.value = std::move(ns);
    return out;
}

indexed<std::vector<health_check>> state_store::node_checks(std::string_view node_name) const {
    const auto lower = ascii_lower(node_name);
    return {max_index(query_tables::checks), checks_for(lower, nullptr)};
}

indexed<std::vector<health_check>> state_store::checks_in_state(std::string_view state) const {
    indexed<std::vector<health_check>> out{max_index(query_tables::checks), {}};
    for (const auto& [key, c] : checks_) {
        if (state == "any" || c.status == state) out.value.push_back(c);
    }
    return out;
}

// All checks of a node (service == nullptr), or its node-level checks followed by the checks
// of one service.
std::vector<health_check> state_store::checks_for(const std::string& lower_node,
                                                  const std::string* lower_service_id) const {
    std::vector<health_check> node_level, service_level;
    for (auto it = checks_.lower_bound({lower_node, std::string{}});
         it != checks_.end() && it->first.first == lower_node; ++it) {
        const auto& c = it->second;
        if (!lower_service_id) {
            node_level.push_back(c);
        } else if (c.service_id.empty()) {
            node_level.push_back(c);
        } else if (ascii_lower(c.service_id) == *lower_service_id) {
            service_level.push_back(c);
        }
    }
    node_level.insert(node_level.end(), service_level.begin(), service_level.end());
    return node_level;
}

check_service_node state_store::make_csn(const node& n, const node_service& s) const {
    check_service_node csn;
    csn.node_ = n;
    csn.service = s;
    const auto lower_sid = ascii_lower(s.id);
    csn.checks = checks_for(ascii_lower(n.name), &lower_sid);
    return csn;
}

indexed<std::vector<check_service_node>> state_store::check_service_nodes(
    std::string_view service, const std::vector<std::string>& tags, bool passing_only) const {
    indexed<std::vector<check_service_node>> out{max_index(query_tables::health), {}};
    const auto lower_name = ascii_lower(service);
    using sort_key = std::pair<std::string, std::string>;
    std::vector<std::pair<sort_key, check_service_node>> found;
    for (const auto& [key, row] : services_) {
        if (ascii_lower(row.service.service) != lower_name) continue;
        if (!has_all_tags(row.service.tags, tags)) continue;
        const node* n = find_node(key.first);
        if (!n) continue;
        auto csn = make_csn(*n, row.service);
        if (passing_only) {
            const bool all_passing =
                std::all_of(csn.checks.begin(), csn.checks.end(),
                            [](const health_check& c) { return c.status == health_passing; });
            if (!all_passing) continue;
        }
        found.emplace_back(key, std::move(csn));
    }
    std::sort(found.begin(), found.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& f : found) out.value.push_back(std::move(f.second));
    return out;
}

indexed<std::vector<check_service_node>> state_store::service_dump(std::string_view kind,
                                                                   bool use_kind) const {
    indexed<std::vector<check_service_node>> out{max_index(query_tables::health), {}};
    using sort_key = std::tuple<std::string, std::string, std::string>;
    std::vector<std::pair<sort_key, check_service_node>> found;
    for (const auto& [key, row] : services_) {
        if (use_kind && row.service.kind != kind) continue;
        const node* n = find_node(key.first);
        if (!n) continue;
        found.emplace_back(sort_key{ascii_lower(row.service.service), key.first, key.second},
                           make_csn(*n, row.service));
    }
    std::sort(found.begin(), found.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& f : found) out.value.push_back(std::move(f.second));
    return out;
}

indexed<std::optional<federation_state>> state_store::federation_state_get(
    std::string_view dc) const {
    indexed<std::optional<federation_state>> out{max_index(query_tables::federation_states), {}};
    auto it = federation_states_.find(std::string(dc));
    if (it != federation_states_.end()) out.value = it->second;
    return out;
}

indexed<std::vector<federation_state>> state_store::federation_state_list() const {
    indexed<std::vector<federation_state>> out{max_index(query_tables::federation_states), {}};
    for (const auto& [dc, st] : federation_states_) out.value.push_back(st);
    return out;
}

// ---- watches -----------------------------------------------------------------------------------
state_store::watch_id state_store::watch(table_mask tables, std::uint64_t min_index, watch_fn cb) {
    if (max_index(tables) > min_index) {
        cb();
        return 0;
    }
    const auto id = next_watch_++;
    watches_.emplace(id, watch_entry{tables, min_index, std::move(cb)});
    return id;
}

bool state_store::cancel(watch_id id) {
    return watches_.erase(id) > 0;
}

void state_store::fire_watches() {
    std::vector<watch_fn> ready;
    for (auto it = watches_.begin(); it != watches_.end();) {
        if (max_index(it->second.tables) > it->second.min_index) {
            ready.push_back(std::move(it->second.cb));
            it = watches_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto& cb : ready) cb();
}

// ---- snapshots ---------------------------------------------------------------------------------
std::vector<std::uint8_t> state_store::snapshot() const {
    state_snapshot snap;
    snap.index = last_index_;
    snap.table_indexes.assign(table_index_.begin(), table_index_.end());
    for (const auto& [k, n] : nodes_) snap.nodes.push_back(n);
    for (const auto& [k, row] : services_) snap.services.push_back({row.node, row.service});
    for (const auto& [k, c] : checks_) snap.checks.push_back(c);
    for (const auto& [k, f] : federation_states_) snap.federation_states.push_back(f);
    return encode_to_bytes(snap);
}

std::expected<void, store_error> state_store::restore(std::span<const std::uint8_t> bytes) {
    decode_limits limits;
    limits.max_elements = 1u << 24;
    limits.max_string = 64u * 1024 * 1024;
    auto snap = decode_from_bytes<state_snapshot>(bytes, limits);
    if (!snap) {
        return fail(store_errc::undecodable, fmt::format("snapshot: {}", snap.error().message()));
    }
    std::map<std::string, node> nodes;
    std::map<row_key, service_row> services;
    std::map<row_key, health_check> checks;
    std::map<std::string, federation_state> feds;
    for (auto& n : snap->nodes) {
        auto key = ascii_lower(n.name);
        nodes.insert_or_assign(std::move(key), std::move(n));
    }
    for (auto& s : snap->services) {
        row_key key{ascii_lower(s.node), ascii_lower(s.service.id)};
        services.insert_or_assign(std::move(key), service_row{s.node, std::move(s.service)});
    }
    for (auto& c : snap->checks) {
        row_key key{ascii_lower(c.node), ascii_lower(c.check_id)};
        checks.insert_or_assign(std::move(key), std::move(c));
    }
    for (auto& f : snap->federation_states) {
        auto dc = f.datacenter;
        feds.insert_or_assign(std::move(dc), std::move(f));
    }
    nodes_ = std::move(nodes);
    services_ = std::move(services);
    checks_ = std::move(checks);
    federation_states_ = std::move(feds);
    table_index_.fill(0);
    for (std::size_t i = 0; i < table_count && i < snap->table_indexes.size(); ++i) {
        table_index_[i] = snap->table_indexes[i];
    }
    last_index_ = snap->index;
    fire_watches();
    return {};
}

}  // namespace meshfed::rpc
