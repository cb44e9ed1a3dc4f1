#include "wan/serf.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>
#include <spdlog/logger.h>

#include "common/log.hpp"

namespace meshfed::wan {

namespace {

constexpr std::string_view internal_query_prefix = "_serf_";
constexpr std::size_t sane_user_event_limit = 9 * 1024;  // serf UserEventSizeLimit
constexpr std::size_t min_encoded_key_length = 25;
constexpr std::size_t max_coordinate_cache = 1u << 16;
constexpr std::size_t max_awaiting_responses = 4096;
constexpr std::size_t max_pending_queries = 1024;

std::string ip_string(std::span<const std::uint8_t> ip) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (ip.size() == 4) {
        if (inet_ntop(AF_INET, ip.data(), buf, sizeof buf) != nullptr) return buf;
    } else if (ip.size() == 16) {
        static constexpr std::uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::equal(ip.begin(), ip.begin() + 12, v4_prefix)) return ip_string(ip.subspan(12));
        if (inet_ntop(AF_INET6, ip.data(), buf, sizeof buf) != nullptr) return buf;
    } else if (ip.empty()) {
        return "<nil>";
    }
    return fmt::format("?{}", ip.size());
}

std::string addr_string(const node_addr& a) {
    const std::string ip = ip_string(a.ip);
    if (a.ip.size() == 16 && ip.find(':') != std::string::npos)
        return fmt::format("[{}]:{}", ip, a.port);
    return fmt::format("{}:{}", ip, a.port);
}

// Go strconv.Atoi (base 10, optional sign, 64-bit range).
std::optional<std::int64_t> go_atoi(std::string_view s) {
    bool neg = false;
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s.remove_prefix(1);
    }
    if (s.empty()) return std::nullopt;
    for (char c : s)
        if (c < '0' || c > '9') return std::nullopt;
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    if (!neg && v > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    if (neg && v > static_cast<std::uint64_t>(INT64_MAX) + 1) return std::nullopt;
    return neg ? static_cast<std::int64_t>(0 - v) : static_cast<std::int64_t>(v);
}

// Go net.SplitHostPort + Atoi(port).
bool host_port_ok(std::string_view v) {
    std::string_view port;
    if (!v.empty() && v[0] == '[') {
        auto end = v.find(']');
        if (end == std::string_view::npos || end + 1 >= v.size() || v[end + 1] != ':') return false;
        port = v.substr(end + 2);
    } else {
        auto colon = v.rfind(':');
        if (colon == std::string_view::npos) return false;
        if (v.substr(0, colon).find(':') != std::string_view::npos) return false;  // too many
        port = v.substr(colon + 1);
    }
    return go_atoi(port).has_value();
}

std::string base64_of(std::span<const std::uint8_t> key) {
    return wire::encode_base64(key);
}

}  // namespace

const char* to_string(member_status s) {
    switch (s) {
        case member_status::none:
            return "none";
        case member_status::alive:
            return "alive";
        case member_status::leaving:
            return "leaving";
        case member_status::left:
            return "left";
        case member_status::failed:
            return "failed";
    }
    return "unknown";
}

const char* to_string(member_event_type t) {
    switch (t) {
        case member_event_type::join:
            return "member-join";
        case member_event_type::leave:
            return "member-leave";
        case member_event_type::failed:
            return "member-failed";
        case member_event_type::update:
            return "member-update";
        case member_event_type::reap:
            return "member-reap";
    }
    return "unknown";
}

const char* to_string(serf_state s) {
    switch (s) {
        case serf_state::alive:
            return "alive";
        case serf_state::leaving:
            return "leaving";
        case serf_state::left:
            return "left";
        case serf_state::shutdown:
            return "shutdown";
    }
    return "unknown";
}

std::string consul_server_problem(const tag_map& tags) {
    auto get = [&](std::string_view k) -> const std::string* {
        auto it = tags.find(std::string(k));
        return it == tags.end() ? nullptr : &it->second;
    };
    auto need_int = [&](std::string_view k, bool required, bool positive) -> std::string {
        const std::string* v = get(k);
        if (v == nullptr) return required ? fmt::format("tag \"{}\" is missing", k) : "";
        auto n = go_atoi(*v);
        if (!n) return fmt::format("tag \"{}\"=\"{}\" is not an integer", k, *v);
        if (positive && *n < 1) return fmt::format("tag \"{}\"=\"{}\" is not positive", k, *v);
        return "";
    };
    const std::string* role = get("role");
    if (role == nullptr) return "tag \"role\" is missing";
    if (*role != "consul") return fmt::format("tag \"role\"=\"{}\" is not \"consul\"", *role);
    if (auto p = need_int("expect", false, false); !p.empty()) return p;
    if (auto p = need_int("port", true, false); !p.empty()) return p;
    for (const auto& [k, v] : tags) {
        if (k.starts_with("sl_") && !host_port_ok(v))
            return fmt::format("tag \"{}\"=\"{}\" is not host:port", k, v);
    }
    const std::string* build = get("build");
    if (build == nullptr) return "tag \"build\" is missing";
    if (auto m = regex_search(R"(\d+\.\d+\.\d+)", *build); !m || !*m)
        return fmt::format("tag \"build\"=\"{}\" has no version (\\d+.\\d+.\\d+)", *build);
    if (auto p = need_int("wan_join_port", false, false); !p.empty()) return p;
    if (auto p = need_int("grpc_port", false, true); !p.empty()) return p;
    if (auto p = need_int("grpc_tls_port", false, true); !p.empty()) return p;
    if (auto p = need_int("vsn", true, false); !p.empty()) return p;
    if (auto p = need_int("raft_vsn", false, false); !p.empty()) return p;
    for (const auto& [k, v] : tags) {
        if (k.starts_with("ft_") && !go_atoi(v))
            return fmt::format("tag \"{}\"=\"{}\" is not an integer", k, v);
    }
    return "";
}

// ---- construction
// ---------------------------------------------------------------------------------

serf::serf(serf_config cfg, time_point now)
    : cfg_(std::move(cfg)),
      log_(get_logger("agent.wan")),
      coord_client_(coordinate_config{}, cfg_.seed == 0 ? std::random_device{}() : cfg_.seed),
      rng_(cfg_.seed == 0 ? std::random_device{}() : cfg_.seed + 1) {
    if (cfg_.event_buffer == 0) cfg_.event_buffer = 1;
    if (cfg_.query_buffer == 0) cfg_.query_buffer = 1;
    cfg_.protocol_version = std::clamp<std::uint8_t>(cfg_.protocol_version, 2, 5);
    cfg_.user_event_size_limit = std::min(cfg_.user_event_size_limit, sane_user_event_limit);
    event_ring_.resize(cfg_.event_buffer);
    query_ring_.resize(cfg_.query_buffer);
    clock_.increment();
    event_clock_.increment();
    query_clock_.increment();
    last_now_ = now;
    next_reap_ = now + cfg_.reap_interval;
    next_reconnect_ = now + cfg_.reconnect_interval;
    next_queue_check_ = now + cfg_.queue_check_interval;
    if (cfg_.coordinates) coord_cache_[cfg_.node_name] = coord_client_.get();
}

serf::serf(serf_config cfg, gossip_host& host, time_point now) : serf(std::move(cfg), now) {
    host_ = &host;
}

serf::~serf() = default;

serf::member_state* serf::find(const std::string& name) {
    auto it = members_.find(name);
    return it == members_.end() ? nullptr : &it->second;
}

const serf::member_state* serf::find(const std::string& name) const {
    auto it = members_.find(name);
    return it == members_.end() ? nullptr : &it->second;
}

// memberlist reports the local node through notify_join at creation (as Go's does); this covers
// a host that does not, so views and push/pull always include us.
void serf::ensure_local() {
    if (host_ == nullptr || members_.contains(cfg_.node_name)) return;
    if (state_ == serf_state::left || state_ == serf_state::shutdown) return;
    const node& n = host_->local();
    member_state ms;
    ms.m = node_to_member(n, member_status::alive);
    ms.m.name = cfg_.node_name;
    members_.emplace(cfg_.node_name, std::move(ms));
}

serf::member_state* serf::local_state_ptr() {
    ensure_local();
    return find(cfg_.node_name);
}

int serf::retransmits() const {
    const int mult = host_ != nullptr ? host_->retransmit_mult() : 4;
    return retransmit_limit(mult, members_.size());
}

std::size_t serf::alive_count() const {
    if (host_ == nullptr) return 1;
    std::size_t n = 0;
    for (const auto& nd : host_->members())
        if (nd.state != node_state::dead && nd.state != node_state::left) ++n;
    return std::max<std::size_t>(n, 1);
}

member serf::node_to_member(const node& n, member_status status) {
    member m;
    m.name = n.name;
    m.addr = n.addr;
    auto tags = decode_tags(n.meta);
    if (tags) {
        m.tags = std::move(*tags);
    } else {
        drop(tags.error());
        log_->error("serf: Failed to decode tags of {} {}: {}", n.name, addr_string(n.addr),
                    to_string(tags.error()));
    }
    m.status = status;
    m.protocol_min = n.vsn[0];
    m.protocol_max = n.vsn[1];
    m.protocol_cur = n.vsn[2];
    m.delegate_min = n.vsn[3];
    m.delegate_max = n.vsn[4];
    m.delegate_cur = n.vsn[5];
    return m;
}

void serf::emit(member_event_type t, const member& m) {
    if (cfg_.callbacks.on_member) cfg_.callbacks.on_member(t, m);
}

// ---- memberlist delegate
// ---------------------------------------------------------------------------

bytes serf::node_meta(std::size_t limit) {
    bytes meta = encode_tags(cfg_.tags, cfg_.protocol_version);
    if (meta.size() > limit) {
        // Go panics; set_tags() refuses such tags, so this only guards a smaller limit.
        log_->error("serf: Node tags of {} exceed length limit of {} bytes", cfg_.node_name, limit);
        meta.resize(0);
    }
    return meta;
}

void serf::notify_user_msg(time_point now, std::span<const std::uint8_t> msg) {
    last_now_ = now;
    if (msg.empty()) {
        drop(serf_errc::empty);
        return;
    }
    if (msg[0] >= serf_message_type_count) {
        ++stats_.unknown_type;
        drop(serf_errc::unknown_type);
        log_->warn("serf: Received message of unknown type: {}", msg[0]);
        return;
    }
    const auto t = static_cast<serf_message_type>(msg[0]);
    ++stats_.received[msg[0]];
    bool rebroadcast = false;
    broadcast_queue* queue = &intents_;
    auto bad = [&](serf_errc e, std::string_view what) {
        drop(e);
        log_->error("serf: Error decoding {} message: {}", what, to_string(e));
    };
    switch (t) {
        case serf_message_type::leave: {
            auto m = decode_leave(msg);
            if (!m) return bad(m.error(), "leave");
            log_->debug("serf: messageLeaveType: {}", m->node);
            ++stats_.leave_intents;
            rebroadcast = handle_leave_intent(now, *m);
            break;
        }
        case serf_message_type::join: {
            auto m = decode_join(msg);
            if (!m) return bad(m.error(), "join");
            log_->debug("serf: messageJoinType: {}", m->node);
            ++stats_.join_intents;
            rebroadcast = handle_join_intent(now, *m);
            break;
        }
        case serf_message_type::user_event: {
            auto m = decode_user_event(msg);
            if (!m) return bad(m.error(), "user event");
            log_->debug("serf: messageUserEventType: {}", m->name);
            rebroadcast = handle_user_event(*m);
            queue = &events_;
            break;
        }
        case serf_message_type::query: {
            auto m = decode_query(msg);
            if (!m) return bad(m.error(), "query");
            log_->debug("serf: messageQueryType: {}", m->name);
            rebroadcast = handle_query(now, *m);
            queue = &queries_;
            break;
        }
        case serf_message_type::query_response: {
            auto m = decode_query_response(msg);
            if (!m) return bad(m.error(), "query response");
            log_->debug("serf: messageQueryResponseType: {}", m->from);
            handle_query_response(now, *m);
            break;
        }
        case serf_message_type::relay:
            handle_relay(msg);
            break;
        default:
            // pushPull / conflictResponse / keyRequest / keyResponse never travel on their own.
            ++stats_.unknown_type;
            drop(serf_errc::wrong_type);
            log_->warn("serf: Received message of unknown type: {}", msg[0]);
            return;
    }
    if (rebroadcast) {
        if (queue == &intents_) ++stats_.intents_rebroadcast;
        queue->queue("", bytes(msg.begin(), msg.end()));
    }
}

std::vector<bytes> serf::get_broadcasts(std::size_t overhead, std::size_t limit) {
    const int lim = retransmits();
    std::vector<bytes> out = intents_.get(overhead, limit, lim);
    std::size_t used = 0;
    for (const auto& m : out) used += m.size() + overhead;
    for (auto* q : {&queries_, &events_}) {
        if (used >= limit) break;
        auto more = q->get(overhead, limit - used, lim);
        for (auto& m : more) {
            used += m.size() + overhead;
            out.push_back(std::move(m));
        }
    }
    return out;
}

bytes serf::local_state(bool /*join*/) {
    ensure_local();
    msg_push_pull pp;
    pp.ltime = clock_.time();
    for (const auto& [name, ms] : members_) {
        pp.status_ltimes[name] = ms.status_ltime;
        if (ms.m.status == member_status::left) pp.left_members.push_back(name);
    }
    pp.event_ltime = event_clock_.time();
    pp.events = event_ring_;  // the whole ring, like Go
    pp.query_ltime = query_clock_.time();
    return encode(pp);
}

void serf::merge_remote_state(time_point now, std::span<const std::uint8_t> state, bool join) {
    last_now_ = now;
    if (state.empty()) {
        drop(serf_errc::empty);
        log_->error("serf: Remote state is zero bytes");
        return;
    }
    if (state[0] != static_cast<std::uint8_t>(serf_message_type::push_pull)) {
        drop(state[0] < serf_message_type_count ? serf_errc::wrong_type : serf_errc::unknown_type);
        log_->error("serf: Remote state has bad type prefix: {}", state[0]);
        return;
    }
    auto pp = decode_push_pull(state);
    if (!pp) {
        drop(pp.error());
        log_->error("serf: Failed to decode remote state: {}", to_string(pp.error()));
        return;
    }
    ++stats_.received[static_cast<std::size_t>(serf_message_type::push_pull)];
    ++stats_.push_pull_merged;
    if (pp->ltime > 0) clock_.witness(pp->ltime - 1);
    if (pp->event_ltime > 0) event_clock_.witness(pp->event_ltime - 1);
    if (pp->query_ltime > 0) query_clock_.witness(pp->query_ltime - 1);

    std::set<std::string> left(pp->left_members.begin(), pp->left_members.end());
    for (const auto& name : left) {
        msg_leave l;
        auto it = pp->status_ltimes.find(name);
        const std::uint64_t lt = it == pp->status_ltimes.end() ? 0 : it->second;
        l.ltime = lt < UINT64_MAX ? lt + 1 : lt;
        l.node = name;
        handle_leave_intent(now, l);
    }
    for (const auto& [name, lt] : pp->status_ltimes) {
        if (left.contains(name)) continue;
        handle_join_intent(now, msg_join{lt, name});
    }
    if (join && event_join_ignore_ && pp->event_ltime > event_min_time_)
        event_min_time_ = pp->event_ltime;
    for (const auto& slot : pp->events) {
        if (!slot) continue;
        for (const auto& e : slot->events) {
            handle_user_event(msg_user_event{slot->ltime, e.name, e.payload, false});
        }
    }
}

void serf::notify_join(time_point now, const node& n) {
    last_now_ = now;
    member_status old = member_status::none;
    member_state* ms = find(n.name);
    if (ms == nullptr) {
        member_state fresh;
        fresh.m = node_to_member(n, member_status::alive);
        if (auto j = recent_intent(n.name, serf_message_type::join)) fresh.status_ltime = *j;
        if (auto l = recent_intent(n.name, serf_message_type::leave)) {
            fresh.m.status = member_status::leaving;
            fresh.status_ltime = *l;
        }
        ms = &members_.emplace(n.name, std::move(fresh)).first->second;
    } else {
        old = ms->m.status;
        if (old == member_status::failed && now - ms->leave_time < cfg_.flap_timeout)
            ++stats_.flaps;
        const auto keep_ltime = ms->status_ltime;
        ms->m = node_to_member(n, member_status::alive);
        ms->status_ltime = keep_ltime;
        ms->leave_time = {};
    }
    ++stats_.member_joins;
    log_->info("serf: EventMemberJoin: {} {}", ms->m.name, ip_string(ms->m.addr.ip));
    emit(member_event_type::join, ms->m);
}

void serf::notify_leave(time_point now, const node& n) {
    last_now_ = now;
    member_state* ms = find(n.name);
    if (ms == nullptr) return;
    switch (ms->m.status) {
        case member_status::leaving:
            ms->m.status = member_status::left;
            ms->leave_time = now;
            break;
        case member_status::alive:
            ms->m.status = member_status::failed;
            ms->leave_time = now;
            break;
        default:
            log_->warn("serf: Bad state when leave: {} {} is {}", ms->m.name,
                       addr_string(ms->m.addr), to_string(ms->m.status));
            return;
    }
    if (ms->m.status == member_status::left) {
        ++stats_.member_leaves;
        log_->info("serf: EventMemberLeave: {} {}", ms->m.name, ip_string(ms->m.addr.ip));
        emit(member_event_type::leave, ms->m);
    } else {
        ++stats_.member_failures;
        log_->info("serf: EventMemberFailed: {} {}", ms->m.name, ip_string(ms->m.addr.ip));
        emit(member_event_type::failed, ms->m);
    }
}

void serf::notify_update(time_point now, const node& n) {
    last_now_ = now;
    member_state* ms = find(n.name);
    if (ms == nullptr) return;
    member updated = node_to_member(n, ms->m.status);
    ms->m = std::move(updated);
    ++stats_.member_updates;
    log_->info("serf: EventMemberUpdate: {} {}", ms->m.name, ip_string(ms->m.addr.ip));
    emit(member_event_type::update, ms->m);
}

std::string serf::merge_check(const node& n) {
    if (n.meta.size() > meta_max_size)
        return fmt::format("Member '{}' ({}) has meta of {} bytes, limit {}", n.name,
                           addr_string(n.addr), n.meta.size(), meta_max_size);
    if (n.addr.ip.size() != 4 && n.addr.ip.size() != 16)
        return fmt::format("Member '{}' IP byte length is invalid: {} bytes is not either 4 or 16",
                           n.name, n.addr.ip.size());
    if (!cfg_.consul_wan_rules) return "";
    auto tags = decode_tags(n.meta);
    if (!tags) return fmt::format("Member '{}' is not a server: undecodable tags", n.name);
    std::string why = consul_server_problem(*tags);
    if (why.empty()) return "";
    return fmt::format("Member '{}' is not a server: {}", n.name, why);
}

std::string serf::notify_merge(std::span<const node> peers) {
    for (const auto& n : peers) {
        std::string why = merge_check(n);
        if (!why.empty()) {
            ++stats_.merges_refused;
            log_->warn("serf: refusing merge with {} ({}): {}", n.name, addr_string(n.addr), why);
            return why;
        }
    }
    return "";
}

std::string serf::notify_alive(const node& peer) {
    std::string why = merge_check(peer);
    if (!why.empty()) {
        ++stats_.alives_refused;
        log_->warn("serf: ignoring alive of {} ({}): {}", peer.name, addr_string(peer.addr), why);
    }
    return why;
}

bytes serf::ack_payload() {
    if (!cfg_.coordinates) return {};
    return encode_ack_payload(coord_client_.get());
}

void serf::notify_ping_complete(time_point now, const node& peer, duration rtt,
                                std::span<const std::uint8_t> payload) {
    last_now_ = now;
    if (!cfg_.coordinates || payload.empty()) return;
    auto c = decode_ack_payload(payload);
    if (!c) {
        coord_client_.count_rejected(c.error());
        if (c.error() == coordinate_errc::bad_version) {
            log_->error("serf: Unsupported ping version: {} from {} {}", payload[0], peer.name,
                        addr_string(peer.addr));
        } else {
            log_->error("serf: Failed to decode coordinate from ping of {} {}: {}", peer.name,
                        addr_string(peer.addr), to_string(c.error()));
        }
        return;
    }
    auto after = coord_client_.update(peer.name, *c,
                                      std::chrono::duration_cast<std::chrono::nanoseconds>(rtt));
    if (!after) {
        log_->trace("serf: Rejected coordinate from {} {}: {}", peer.name, addr_string(peer.addr),
                    to_string(after.error()));
        return;
    }
    if (coord_cache_.size() >= max_coordinate_cache && !coord_cache_.contains(peer.name)) return;
    coord_cache_[peer.name] = std::move(*c);
    coord_cache_[cfg_.node_name] = coord_client_.get();
}

// ---- intents
// --------------------------------------------------------------------------------------

bool serf::upsert_intent(time_point now, const std::string& node, serf_message_type t,
                         std::uint64_t ltime) {
    auto it = recent_intents_.find(node);
    if (it != recent_intents_.end() && ltime <= it->second.ltime) return false;
    if (it == recent_intents_.end() && recent_intents_.size() >= cfg_.max_recent_intents) {
        drop(serf_errc::oversized);
        log_->warn("serf: recent intent buffer full ({}), ignoring intent about {}",
                   recent_intents_.size(), node);
        return false;
    }
    recent_intents_[node] = intent{t, now, ltime};
    ++stats_.intents_buffered;
    return true;
}

std::optional<std::uint64_t> serf::recent_intent(const std::string& node,
                                                 serf_message_type t) const {
    auto it = recent_intents_.find(node);
    if (it != recent_intents_.end() && it->second.type == t) return it->second.ltime;
    return std::nullopt;
}

bool serf::handle_leave_intent(time_point now, const msg_leave& m) {
    clock_.witness(m.ltime);
    member_state* ms = find(m.node);
    if (ms == nullptr) return upsert_intent(now, m.node, serf_message_type::leave, m.ltime);
    if (m.ltime <= ms->status_ltime) return false;
    if (m.node == cfg_.node_name && state_ == serf_state::alive) {
        log_->debug("serf: Refuting an older leave intent about {}", m.node);
        ++stats_.refutes;
        broadcast_join(now, clock_.time());
        return false;
    }
    ms->status_ltime = m.ltime;
    switch (ms->m.status) {
        case member_status::alive:
            ms->m.status = member_status::leaving;
            if (m.prune) handle_prune(*ms);
            return true;
        case member_status::failed:
            ms->m.status = member_status::left;
            ++stats_.member_leaves;
            log_->info("serf: EventMemberLeave (forced): {} {}", ms->m.name,
                       ip_string(ms->m.addr.ip));
            emit(member_event_type::leave, ms->m);
            if (m.prune) handle_prune(*ms);
            return true;
        case member_status::leaving:
        case member_status::left:
            if (m.prune) handle_prune(*ms);
            return true;
        default:
            return false;
    }
}

bool serf::handle_join_intent(time_point now, const msg_join& m) {
    clock_.witness(m.ltime);
    member_state* ms = find(m.node);
    if (ms == nullptr) return upsert_intent(now, m.node, serf_message_type::join, m.ltime);
    if (m.ltime <= ms->status_ltime) return false;
    ms->status_ltime = m.ltime;
    if (ms->m.status == member_status::leaving) ms->m.status = member_status::alive;
    return true;
}

void serf::broadcast_join(time_point now, std::uint64_t ltime) {
    msg_join j{ltime, cfg_.node_name};
    clock_.witness(ltime);
    handle_join_intent(now, j);
    intents_.queue("", encode(j));
}

void serf::handle_prune(member_state& ms) {
    // Go sleeps BroadcastTimeout + LeavePropagateDelay for a leaving member first; here the
    // erase is immediate (the memberlist dead message still propagates independently).
    log_->info("serf: EventMemberReap (forced): {} {}", ms.m.name, ip_string(ms.m.addr.ip));
    erase_node(ms.m.name);
}

void serf::erase_node(const std::string& name_ref) {
    const std::string name = name_ref;  // may refer into the entry erased below
    auto it = members_.find(name);
    if (it == members_.end()) return;
    member m = std::move(it->second.m);
    members_.erase(it);
    coord_client_.forget_node(name);
    coord_cache_.erase(name);
    ++stats_.member_reaps;
    emit(member_event_type::reap, m);
}

// ---- user events
// ------------------------------------------------------------------------------------

bool serf::handle_user_event(const msg_user_event& m) {
    event_clock_.witness(m.ltime);
    if (m.ltime < event_min_time_) return false;
    const std::uint64_t cur = event_clock_.time();
    const std::uint64_t n = event_ring_.size();
    if (cur > n && m.ltime < cur - n) {
        ++stats_.events_old;
        drop(serf_errc::stale);
        log_->warn("serf: received old event {} from time {} (current: {})", m.name, m.ltime, cur);
        return false;
    }
    auto& slot = event_ring_[m.ltime % n];
    user_event_entry entry{m.name, m.payload};
    if (slot && slot->ltime == m.ltime) {
        for (const auto& prev : slot->events) {
            if (prev == entry) {
                ++stats_.events_duplicate;
                return false;
            }
        }
        if (slot->events.size() >= serf_limits::max_events_per_slot) {
            drop(serf_errc::oversized);
            return false;
        }
    } else {
        slot = user_events_slot{m.ltime, {}};
    }
    slot->events.push_back(std::move(entry));
    ++stats_.events_delivered;
    if (cfg_.callbacks.on_user_event)
        cfg_.callbacks.on_user_event(wan::user_event{m.ltime, m.name, m.payload, m.cc});
    return true;
}

std::expected<void, std::string> serf::user_event(time_point now, std::string name, bytes payload,
                                                  bool coalesce) {
    last_now_ = now;
    const std::size_t before = name.size() + payload.size();
    if (before > cfg_.user_event_size_limit)
        return std::unexpected(
            fmt::format("user event exceeds configured limit of {} bytes before encoding",
                        cfg_.user_event_size_limit));
    if (before > sane_user_event_limit)
        return std::unexpected(fmt::format(
            "user event exceeds sane limit of {} bytes before encoding", sane_user_event_limit));
    msg_user_event m{event_clock_.time(), std::move(name), std::move(payload), coalesce};
    bytes raw = encode(m);
    if (raw.size() > cfg_.user_event_size_limit)
        return std::unexpected(
            fmt::format("encoded user event exceeds configured limit of {} bytes after encoding",
                        cfg_.user_event_size_limit));
    event_clock_.increment();
    handle_user_event(m);
    events_.queue("", std::move(raw));
    return {};
}

// ---- queries ------------------------------------------------------------------------------------

bool serf::should_process_query(const std::vector<bytes>& filters) {
    for (const auto& raw : filters) {
        auto f = decode_filter(raw);
        if (!f) {
            drop(serf_errc::bad_filter);
            log_->warn("serf: failed to decode query filter: {}", to_string(f.error()));
            return false;
        }
        if (const auto* nf = std::get_if<node_filter>(&*f)) {
            if (std::find(nf->nodes.begin(), nf->nodes.end(), cfg_.node_name) == nf->nodes.end())
                return false;
        } else {
            const auto& tf = std::get<tag_filter>(*f);
            auto it = cfg_.tags.find(tf.tag);
            const std::string value = it == cfg_.tags.end() ? std::string() : it->second;
            auto matched = regex_search(tf.expr, value);
            if (!matched) {
                drop(serf_errc::bad_filter);
                log_->warn("serf: failed to compile filter regex ({})", tf.expr);
                return false;
            }
            if (!*matched) return false;
        }
    }
    return true;
}

bool serf::handle_query(time_point now, const msg_query& q) {
    query_clock_.witness(q.ltime);
    if (q.ltime < query_min_time_) return false;
    const std::uint64_t cur = query_clock_.time();
    const std::uint64_t n = query_ring_.size();
    if (cur > n && q.ltime < cur - n) {
        ++stats_.queries_old;
        drop(serf_errc::stale);
        log_->warn("serf: received old query {} from time {} (current: {})", q.name, q.ltime, cur);
        return false;
    }
    auto& slot = query_ring_[q.ltime % n];
    if (slot && slot->ltime == q.ltime) {
        if (std::find(slot->ids.begin(), slot->ids.end(), q.id) != slot->ids.end()) {
            ++stats_.queries_duplicate;
            return false;
        }
        if (slot->ids.size() >= serf_limits::max_events_per_slot) {
            drop(serf_errc::oversized);
            return false;
        }
    } else {
        slot = query_ring_slot{q.ltime, {}};
    }
    slot->ids.push_back(q.id);
    ++stats_.queries_handled;

    const bool rebroadcast = !q.no_broadcast();
    if (!should_process_query(q.filters)) {
        ++stats_.queries_filtered;
        return rebroadcast;
    }
    if (q.addr.size() != 4 && q.addr.size() != 16) {
        // Nowhere to answer; still gossip it like Go would (Go would fail the send).
        drop(serf_errc::invalid_value);
        log_->warn("serf: query {} from {} has an invalid source address ({} bytes)", q.name,
                   q.source_node, q.addr.size());
        return rebroadcast;
    }
    if (q.ack()) {
        msg_query_response ack{q.ltime, q.id, cfg_.node_name, query_flag_ack, {}};
        const bytes raw = encode(ack);
        node_addr to{q.addr, q.port};
        if (auto r = send_response_raw(to, q.source_node, q.relay_factor, ack, raw); !r) {
            log_->error("serf: failed to send ack to {} {}: {}", q.source_node, addr_string(to),
                        r.error());
        } else {
            ++stats_.query_acks_sent;
        }
    }
    if (q.name.starts_with(internal_query_prefix)) {
        ++stats_.queries_internal;
        handle_internal_query(now, q);
    } else if (cfg_.callbacks.on_query) {
        const std::int64_t tns = std::clamp<std::int64_t>(q.timeout_ns, 0, 3'600'000'000'000LL);
        query_event ev;
        ev.ltime = q.ltime;
        ev.id = q.id;
        ev.name = q.name;
        ev.payload = q.payload;
        ev.respond_to = node_addr{q.addr, q.port};
        ev.source_node = q.source_node;
        ev.relay_factor = q.relay_factor;
        ev.deadline = now + std::chrono::duration_cast<duration>(std::chrono::nanoseconds(tns));
        if (awaiting_response_.size() < max_awaiting_responses)
            awaiting_response_[{q.ltime, q.id}] = ev.deadline;
        cfg_.callbacks.on_query(ev);
    }
    return rebroadcast;
}

void serf::deliver_user_packet(const node_addr& to, const std::string& to_node,
                               std::span<const std::uint8_t> raw) {
    if (host_ == nullptr) return;
    // Answers to our own queries are handled in place instead of looping through UDP.
    if (to_node == cfg_.node_name && to == host_->local().addr) {
        notify_user_msg(last_now_, raw);
        return;
    }
    host_->send_user_packet(to, to_node, raw);
}

std::expected<void, std::string> serf::send_response_raw(const node_addr& to,
                                                         const std::string& to_node,
                                                         std::uint8_t relay_factor,
                                                         const msg_query_response& r,
                                                         const bytes& raw) {
    if (raw.size() > cfg_.query_response_size_limit)
        return std::unexpected(
            fmt::format("response exceeds limit of {} bytes", cfg_.query_response_size_limit));
    deliver_user_packet(to, to_node, raw);
    if (relay_factor == 0 || host_ == nullptr) return {};
    // relayResponse: the same message via `relay_factor` random alive members (pmax >= 5).
    if (members_.size() < static_cast<std::size_t>(relay_factor) + 1) return {};
    msg_relay relay{to.ip, to.port, "", to_node, raw};
    (void)r;
    const bytes wrapped = encode(relay);
    if (wrapped.size() > cfg_.query_response_size_limit)
        return std::unexpected(fmt::format("relayed response exceeds limit of {} bytes",
                                           cfg_.query_response_size_limit));
    std::vector<const member_state*> all;
    all.reserve(members_.size());
    for (const auto& [_, ms] : members_) all.push_back(&ms);
    std::vector<const member_state*> chosen;
    std::uniform_int_distribution<std::size_t> pick(0, all.size() - 1);
    for (std::size_t i = 0; i < 3 * all.size() && chosen.size() < relay_factor; ++i) {
        const member_state* c = all[pick(rng_)];
        if (c->m.status != member_status::alive || c->m.protocol_max < 5 ||
            c->m.name == cfg_.node_name)
            continue;
        if (std::find(chosen.begin(), chosen.end(), c) != chosen.end()) continue;
        chosen.push_back(c);
    }
    for (const auto* c : chosen) host_->send_user_packet(c->m.addr, c->m.name, wrapped);
    return {};
}

std::expected<void, std::string> serf::send_response(time_point /*now*/, const msg_query& q,
                                                     std::span<const std::uint8_t> payload) {
    msg_query_response r{q.ltime, q.id, cfg_.node_name, 0, bytes(payload.begin(), payload.end())};
    const bytes raw = encode(r);
    auto res = send_response_raw(node_addr{q.addr, q.port}, q.source_node, q.relay_factor, r, raw);
    if (res) ++stats_.query_responses_sent;
    return res;
}

std::expected<void, std::string> serf::respond(time_point now, const query_event& q,
                                               std::span<const std::uint8_t> payload) {
    last_now_ = now;
    auto it = awaiting_response_.find({q.ltime, q.id});
    if (it == awaiting_response_.end()) return std::unexpected("response already sent");
    if (now > it->second) {
        awaiting_response_.erase(it);
        return std::unexpected("response is past the deadline");
    }
    msg_query mq;
    mq.ltime = q.ltime;
    mq.id = q.id;
    mq.addr = q.respond_to.ip;
    mq.port = q.respond_to.port;
    mq.source_node = q.source_node;
    mq.relay_factor = q.relay_factor;
    auto res = send_response(now, mq, payload);
    if (res) awaiting_response_.erase(it);
    return res;
}

void serf::handle_query_response(time_point now, const msg_query_response& r) {
    auto it = pending_queries_.find(r.ltime);
    if (it == pending_queries_.end()) {
        ++stats_.query_replies_dropped;
        log_->warn("serf: reply for non-running query (LTime: {}, ID: {}) From: {}", r.ltime, r.id,
                   r.from);
        return;
    }
    pending_query& pq = it->second;
    if (pq.id != r.id) {
        ++stats_.query_replies_dropped;
        log_->warn("serf: query reply ID mismatch (Local: {}, Response: {}) From: {}", pq.id, r.id,
                   r.from);
        return;
    }
    if (now > pq.deadline) {
        ++stats_.query_replies_dropped;
        return;
    }
    if (r.ack()) {
        if (!pq.ack_requested || pq.acks.contains(r.from)) {
            ++stats_.query_replies_dropped;
            return;
        }
        if (pq.acks.size() >= pq.capacity) {
            ++stats_.query_replies_dropped;
            log_->warn("serf: Failed to deliver query ack from {}, dropping", r.from);
            return;
        }
        pq.acks.insert(r.from);
        ++stats_.query_acks_received;
        if (pq.cb) pq.cb(query_reply{query_reply::kind::ack, r.from, {}});
    } else {
        if (pq.responses.contains(r.from)) {
            ++stats_.query_replies_dropped;
            return;
        }
        if (pq.responses.size() >= pq.capacity) {
            ++stats_.query_replies_dropped;
            log_->warn("serf: Failed to deliver query response from {}, dropping", r.from);
            return;
        }
        pq.responses.insert(r.from);
        ++stats_.query_responses_received;
        // The callback may start another query (map insert): `pq` stays valid in a std::map.
        if (pq.cb) pq.cb(query_reply{query_reply::kind::response, r.from, r.payload});
    }
}

void serf::handle_relay(std::span<const std::uint8_t> msg) {
    auto rel = decode_relay(msg);
    if (!rel) {
        drop(rel.error());
        log_->error("serf: Error decoding relay header: {}", to_string(rel.error()));
        return;
    }
    node_addr dest{rel->dest_ip, rel->dest_port};
    // Only forward what serf relays (query responses within the size limit) to a real address,
    // so the relay cannot be used to reflect arbitrary traffic.
    if ((dest.ip.size() != 4 && dest.ip.size() != 16) || dest.port == 0) {
        drop(serf_errc::invalid_value);
        log_->error("serf: Error forwarding relayed message to {}: invalid address",
                    addr_string(dest));
        return;
    }
    if (rel->inner.empty() ||
        rel->inner[0] != static_cast<std::uint8_t>(serf_message_type::query_response) ||
        rel->inner.size() > cfg_.query_response_size_limit) {
        drop(rel->inner.size() > cfg_.query_response_size_limit ? serf_errc::oversized
                                                                : serf_errc::wrong_type);
        log_->warn("serf: refusing to relay a non-response message to {} {}", rel->dest_name,
                   addr_string(dest));
        return;
    }
    log_->debug("serf: Relaying response to addr: {} {}", rel->dest_name, addr_string(dest));
    ++stats_.relays_forwarded;
    deliver_user_packet(dest, rel->dest_name, rel->inner);
}

std::expected<std::pair<std::uint64_t, std::uint32_t>, std::string> serf::query(
    time_point now, std::string name, bytes payload, const query_params& params,
    query_callback cb) {
    last_now_ = now;
    if (cfg_.protocol_version < 4) return std::unexpected("Feature not supported");
    if (host_ == nullptr) return std::unexpected("serf: no gossip host");
    if (pending_queries_.size() >= max_pending_queries)
        return std::unexpected("too many queries in flight");
    const duration timeout = params.timeout.count() > 0 ? params.timeout : default_query_timeout();

    msg_query q;
    for (const auto& [tag, expr] : params.filter_tags) {
        if (auto ok = regex_search(expr, ""); !ok)
            return std::unexpected(
                fmt::format("Failed to format filters: invalid regexp {}", expr));
    }
    if (!params.filter_nodes.empty())
        q.filters.push_back(encode_filter(node_filter{params.filter_nodes}));
    for (const auto& [tag, expr] : params.filter_tags)
        q.filters.push_back(encode_filter(tag_filter{tag, expr}));
    const node& local = host_->local();
    q.ltime = query_clock_.time();
    q.id = static_cast<std::uint32_t>(rng_() & 0x7fffffffu);
    q.addr = local.addr.ip;
    q.port = local.addr.port;
    q.source_node = cfg_.node_name;
    q.flags = params.request_ack ? query_flag_ack : 0;
    q.relay_factor = params.relay_factor;
    q.timeout_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
    q.name = std::move(name);
    q.payload = std::move(payload);
    bytes raw = encode(q);
    if (raw.size() > cfg_.query_size_limit)
        return std::unexpected(
            fmt::format("query exceeds limit of {} bytes", cfg_.query_size_limit));

    pending_query pq;
    pq.id = q.id;
    pq.deadline = now + timeout;
    pq.capacity = alive_count();
    pq.ack_requested = params.request_ack;
    pq.cb = std::move(cb);
    pending_queries_[q.ltime] = std::move(pq);

    handle_query(now, q);
    queries_.queue("", std::move(raw));
    return std::pair{q.ltime, q.id};
}

duration serf::default_query_timeout() const {
    const double n = static_cast<double>(alive_count());
    const auto scale = static_cast<int>(std::ceil(std::log10(n + 1.0)));
    return cfg_.gossip_interval * cfg_.query_timeout_mult * std::max(scale, 1);
}

// ---- internal queries
// -----------------------------------------------------------------------------

void serf::handle_internal_query(time_point now, const msg_query& q) {
    const std::string_view op = std::string_view(q.name).substr(internal_query_prefix.size());
    if (op == "ping") return;
    if (op == "conflict") {
        const std::string node(q.payload.begin(), q.payload.end());
        if (node == cfg_.node_name) return;
        log_->debug("serf: Got conflict resolution query for '{}'", node);
        const member_state* ms = find(node);
        bytes buf;
        if (ms == nullptr) {
            buf = encode_conflict_response(nullptr);
        } else {
            msg_member mm{ms->m.name,
                          ms->m.addr.ip,
                          ms->m.addr.port,
                          ms->m.tags,
                          static_cast<std::int64_t>(ms->m.status),
                          ms->m.protocol_min,
                          ms->m.protocol_max,
                          ms->m.protocol_cur,
                          ms->m.delegate_min,
                          ms->m.delegate_max,
                          ms->m.delegate_cur};
            buf = encode_conflict_response(&mm);
        }
        if (auto r = send_response(now, q, buf); !r)
            log_->error("serf: Failed to respond to conflict query from {}: {}", q.source_node,
                        r.error());
        return;
    }
    if (op == "install-key") return answer_key_query(now, q, key_op::install);
    if (op == "use-key") return answer_key_query(now, q, key_op::use);
    if (op == "remove-key") return answer_key_query(now, q, key_op::remove);
    if (op == "list-keys") return answer_key_query(now, q, key_op::list);
    log_->warn("serf: Unhandled internal query '{}' from {}", op, q.source_node);
}

std::string serf::persist_keys() {
    if (!cfg_.persist_keyring) return "";
    return cfg_.persist_keyring(cfg_.keyring->keys());
}

void serf::answer_key_query(time_point now, const msg_query& q, key_op op) {
    ++stats_.key_queries;
    msg_key_response resp;
    auto finish = [&]() {
        if (op != key_op::list) {
            if (auto r = send_response(now, q, encode(resp)); !r)
                log_->error("serf: Failed to respond to key query from {}: {}", q.source_node,
                            r.error());
            return;
        }
        // keyListResponseWithCorrectSize: drop keys until the response fits.
        const std::size_t actual = resp.keys.size();
        const std::size_t max_keys = cfg_.query_response_size_limit / min_encoded_key_length;
        for (std::size_t i = std::min(max_keys, actual) + 1; i-- > 0;) {
            msg_query_response r{q.ltime, q.id, cfg_.node_name, 0, encode(resp)};
            const bytes raw = encode(r);
            if (raw.size() <= cfg_.query_response_size_limit) {
                if (actual > resp.keys.size()) log_->warn("serf: {}", resp.message);
                auto res = send_response_raw(node_addr{q.addr, q.port}, q.source_node,
                                             q.relay_factor, r, raw);
                if (!res) {
                    log_->error("serf: Failed to respond to key query from {}: {}", q.source_node,
                                res.error());
                } else {
                    ++stats_.query_responses_sent;
                }
                return;
            }
            resp.keys.resize(std::min(resp.keys.size(), i));
            resp.message = fmt::format("truncated key list response, showing first {} of {} keys",
                                       resp.keys.size(), actual);
        }
        log_->error("serf: Failed to truncate response so that it fits into message");
    };

    if (op == key_op::list) {
        if (!encryption_enabled()) {
            resp.message = "Keyring is empty (encryption not enabled)";
            log_->error("serf: Keyring is empty (encryption not enabled)");
            return finish();
        }
        log_->info("serf: Received list-keys query from {}", q.source_node);
        for (const auto& k : cfg_.keyring->keys()) resp.keys.push_back(base64_of(k));
        resp.primary_key = base64_of(cfg_.keyring->primary());
        resp.result = true;
        return finish();
    }

    auto req = decode_key_request(q.payload);
    if (!req) {
        drop(req.error());
        log_->error("serf: Failed to decode key request from {}: {}", q.source_node,
                    to_string(req.error()));
        return finish();
    }
    if (!encryption_enabled()) {
        resp.message = "No keyring to modify (encryption not enabled)";
        log_->error("serf: No keyring to modify (encryption not enabled)");
        return finish();
    }
    auto& ring = *cfg_.keyring;
    const auto contains = [&](std::span<const std::uint8_t> key) {
        for (const auto& k : ring.keys())
            if (std::equal(k.begin(), k.end(), key.begin(), key.end())) return true;
        return false;
    };
    switch (op) {
        case key_op::install:
            log_->info("serf: Received install-key query from {}", q.source_node);
            if (!wire::keyring::valid_key_size(req->key.size())) {
                resp.message = "key size must be 16, 24 or 32 bytes";
                log_->error("serf: Failed to install key: {}", resp.message);
                return finish();
            }
            if (auto r = ring.add_key(req->key); !r) {
                resp.message = std::string(wire::to_string(r.error()));
                log_->error("serf: Failed to install key: {}", resp.message);
                return finish();
            }
            break;
        case key_op::use:
            log_->info("serf: Received use-key query from {}", q.source_node);
            if (!contains(req->key)) {
                resp.message = "Requested key is not in the keyring";
                log_->error("serf: Failed to change primary key: {}", resp.message);
                return finish();
            }
            if (auto r = ring.use_key(req->key); !r) {
                resp.message = std::string(wire::to_string(r.error()));
                log_->error("serf: Failed to change primary key: {}", resp.message);
                return finish();
            }
            break;
        case key_op::remove: {
            log_->info("serf: Received remove-key query from {}", q.source_node);
            auto primary = ring.primary();
            if (std::equal(primary.begin(), primary.end(), req->key.begin(), req->key.end())) {
                resp.message = "Removing the primary key is not allowed";
                log_->error("serf: Failed to remove key: {}", resp.message);
                return finish();
            }
            if (auto r = ring.remove_key(req->key); !r) {
                resp.message = std::string(wire::to_string(r.error()));
                log_->error("serf: Failed to remove key: {}", resp.message);
                return finish();
            }
            break;
        }
        case key_op::list:
            break;
    }
    if (std::string err = persist_keys(); !err.empty()) {
        resp.message = err;
        log_->error("serf: Failed to write keyring file: {}", err);
        return finish();
    }
    resp.result = true;
    finish();
}

std::expected<void, std::string> serf::key_operation(
    time_point now, key_op op, std::string_view key_b64,
    std::function<void(const key_response_summary&)> done, std::uint8_t relay_factor) {
    msg_key_request req;
    if (op != key_op::list) {
        auto key = wire::decode_base64_key(key_b64);
        if (!key)
            return std::unexpected(fmt::format("invalid key: {}", wire::to_string(key.error())));
        req.key = std::move(*key);
    }
    static constexpr const char* names[] = {"_serf_install-key", "_serf_use-key",
                                            "_serf_remove-key", "_serf_list-keys"};
    auto summary = std::make_shared<key_response_summary>();
    summary->num_nodes = static_cast<int>(alive_count());
    auto finished = std::make_shared<bool>(false);
    auto complete = [summary, finished, done]() {
        if (*finished) return;
        *finished = true;
        if (summary->num_err != 0) {
            summary->error =
                fmt::format("{}/{} nodes reported failure", summary->num_err, summary->num_nodes);
        } else if (summary->num_resp != summary->num_nodes) {
            summary->error =
                fmt::format("{}/{} nodes reported success", summary->num_resp, summary->num_nodes);
        }
        if (done) done(*summary);
    };
    query_params params;
    params.relay_factor = relay_factor;
    auto r = query(now, names[static_cast<int>(op)], encode(req), params,
                   [summary, finished, complete](const query_reply& rep) {
                       if (*finished) return;
                       if (rep.type == query_reply::kind::done) return complete();
                       if (rep.type != query_reply::kind::response) return;
                       ++summary->num_resp;
                       auto kr = decode_key_response(rep.payload);
                       if (!kr) {
                           summary->messages[rep.from] =
                               rep.payload.empty() || rep.payload[0] != 8
                                   ? "Invalid key query response type"
                                   : "Failed to decode key query response";
                           ++summary->num_err;
                       } else {
                           if (!kr->result) {
                               summary->messages[rep.from] = kr->message;
                               ++summary->num_err;
                           } else if (!kr->message.empty()) {
                               summary->messages[rep.from] = kr->message;
                           }
                           for (const auto& k : kr->keys) ++summary->keys[k];
                           ++summary->primary_keys[kr->primary_key];
                       }
                       if (summary->num_resp == summary->num_nodes) complete();
                   });
    if (!r) return std::unexpected(r.error());
    return {};
}

// ---- API ----------------------------------------------------------------------------------------

std::expected<void, std::string> serf::set_tags(time_point now, tag_map tags) {
    last_now_ = now;
    if (encode_tags(tags, cfg_.protocol_version).size() > meta_max_size)
        return std::unexpected(
            fmt::format("Encoded length of tags exceeds limit of {} bytes", meta_max_size));
    cfg_.tags = std::move(tags);
    if (host_ != nullptr) host_->update_meta(now);
    return {};
}

void serf::join(time_point now, const std::vector<std::pair<std::string, node_addr>>& peers,
                bool ignore_old, gossip_host::join_callback done) {
    last_now_ = now;
    if (state_ != serf_state::alive || host_ == nullptr) {
        if (done) done(0, {"Serf can't Join after Leave or Shutdown"});
        return;
    }
    event_join_ignore_ = ignore_old;
    host_->join(now, peers, [this, done](int joined, std::vector<std::string> errors) {
        event_join_ignore_ = false;
        if (joined > 0) broadcast_join(last_now_, clock_.time());
        if (done) done(joined, std::move(errors));
    });
}

std::expected<void, std::string> serf::leave(time_point now) {
    last_now_ = now;
    if (state_ == serf_state::left) return {};
    if (state_ == serf_state::leaving) return std::unexpected("Leave already in progress");
    if (state_ == serf_state::shutdown) return std::unexpected("Leave called after Shutdown");
    state_ = serf_state::leaving;
    msg_leave m{clock_.time(), cfg_.node_name, false};
    clock_.increment();
    handle_leave_intent(now, m);
    bool has_alive = false;
    for (const auto& [name, ms] : members_)
        if (name != cfg_.node_name && ms.m.status == member_status::alive) has_alive = true;
    if (has_alive) intents_.queue("", encode(m));
    log_->info("serf: leaving the pool as {}", cfg_.node_name);
    return {};
}

void serf::finish_leave() {
    if (state_ != serf_state::shutdown) state_ = serf_state::left;
}

void serf::shutdown() {
    if (state_ != serf_state::left && state_ != serf_state::shutdown)
        log_->warn("serf: Shutdown without a Leave");
    state_ = serf_state::shutdown;
}

std::expected<void, std::string> serf::force_leave(time_point now, const std::string& name,
                                                   bool prune) {
    last_now_ = now;
    if (name.empty()) return std::unexpected("node name required");
    msg_leave m{clock_.time(), name, prune};
    clock_.increment();
    handle_leave_intent(now, m);
    bool has_alive = false;
    for (const auto& [n, ms] : members_)
        if (n != cfg_.node_name && ms.m.status == member_status::alive) has_alive = true;
    if (has_alive) intents_.queue("", encode(m));
    return {};
}

// ---- timers -------------------------------------------------------------------------------------

void serf::reap(time_point now) {
    std::vector<std::string> gone;
    for (const auto& [name, ms] : members_) {
        if (ms.m.status == member_status::failed && now - ms.leave_time > cfg_.reconnect_timeout)
            gone.push_back(name);
        else if (ms.m.status == member_status::left && now - ms.leave_time > cfg_.tombstone_timeout)
            gone.push_back(name);
    }
    for (const auto& name : gone) {
        const member_state* ms = find(name);
        log_->info("serf: EventMemberReap: {} {}", name, ip_string(ms->m.addr.ip));
        erase_node(name);
    }
    std::erase_if(recent_intents_, [&](const auto& kv) {
        return now - kv.second.wall_time > cfg_.recent_intent_timeout;
    });
}

void serf::reconnect(time_point now) {
    if (host_ == nullptr) return;
    std::vector<const member_state*> failed;
    std::size_t left = 0;
    for (const auto& [_, ms] : members_) {
        if (ms.m.status == member_status::failed) failed.push_back(&ms);
        if (ms.m.status == member_status::left) ++left;
    }
    if (failed.empty()) return;
    double alive = static_cast<double>(members_.size() - failed.size() - left);
    if (alive == 0) alive = 1;
    const double prob = static_cast<double>(failed.size()) / alive;
    std::uniform_real_distribution<double> u(0.0, 1.0);
    if (u(rng_) > prob) {
        log_->debug("serf: forgoing reconnect for random throttling");
        return;
    }
    std::uniform_int_distribution<std::size_t> pick(0, failed.size() - 1);
    const member_state* ms = failed[pick(rng_)];
    ++stats_.reconnect_attempts;
    log_->info("serf: attempting reconnect to {} {}", ms->m.name, addr_string(ms->m.addr));
    const std::string name = ms->m.name;
    const node_addr addr = ms->m.addr;
    host_->join(now, {{name, addr}}, [this, name, addr](int joined, std::vector<std::string> errs) {
        if (joined == 0)
            log_->debug("serf: reconnect to {} {} failed: {}", name, addr_string(addr),
                        errs.empty() ? std::string("no answer") : errs.front());
    });
}

void serf::check_queues() {
    struct named {
        const char* name;
        broadcast_queue* q;
    };
    for (auto [name, q] :
         {named{"Intent", &intents_}, named{"Event", &events_}, named{"Query", &queries_}}) {
        const std::size_t n = q->size();
        if (n >= cfg_.queue_depth_warning) log_->warn("serf: {} queue depth: {}", name, n);
        if (n > cfg_.max_queue_depth) {
            log_->warn("serf: {} queue depth ({}) exceeds limit ({}), dropping messages!", name, n,
                       cfg_.max_queue_depth);
            q->prune(cfg_.max_queue_depth);
            ++stats_.queue_prunes;
        }
    }
}

void serf::tick(time_point now) {
    last_now_ = now;
    // Finished outgoing queries (callbacks may start new ones: collect first).
    std::vector<query_callback> done;
    for (auto it = pending_queries_.begin(); it != pending_queries_.end();) {
        if (now >= it->second.deadline) {
            done.push_back(std::move(it->second.cb));
            it = pending_queries_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto& cb : done)
        if (cb) cb(query_reply{query_reply::kind::done, {}, {}});
    std::erase_if(awaiting_response_, [&](const auto& kv) { return now > kv.second; });
    if (state_ == serf_state::shutdown) return;
    if (now >= next_reap_) {
        reap(now);
        next_reap_ = now + cfg_.reap_interval;
    }
    if (now >= next_reconnect_) {
        reconnect(now);
        next_reconnect_ = now + cfg_.reconnect_interval;
    }
    if (now >= next_queue_check_) {
        check_queues();
        next_queue_check_ = now + cfg_.queue_check_interval;
    }
}

time_point serf::next_wakeup() const {
    time_point t = time_point::max();
    if (state_ != serf_state::shutdown)
        t = std::min({next_reap_, next_reconnect_, next_queue_check_});
    for (const auto& [_, pq] : pending_queries_) t = std::min(t, pq.deadline);
    return t;
}

// ---- views --------------------------------------------------------------------------------------

std::vector<member> serf::members() const {
    const_cast<serf*>(this)->ensure_local();
    std::vector<member> out;
    out.reserve(members_.size());
    for (const auto& [_, ms] : members_) out.push_back(ms.m);
    return out;
}

std::optional<member> serf::find_member(const std::string& name) const {
    const_cast<serf*>(this)->ensure_local();
    const member_state* ms = find(name);
    if (ms == nullptr) return std::nullopt;
    return ms->m;
}

member serf::local_member() const {
    const_cast<serf*>(this)->ensure_local();
    if (const member_state* ms = find(cfg_.node_name)) return ms->m;
    member m;
    m.name = cfg_.node_name;
    m.tags = cfg_.tags;
    m.status = state_ == serf_state::left ? member_status::left : member_status::alive;
    return m;
}

serf_stats serf::stats() const {
    serf_stats s = stats_;
    s.members = members_.size();
    for (const auto& [_, ms] : members_) {
        if (ms.m.status == member_status::failed) ++s.failed;
        if (ms.m.status == member_status::left) ++s.left;
    }
    s.member_time = clock_.time();
    s.event_time = event_clock_.time();
    s.query_time = query_clock_.time();
    s.intent_queue = intents_.size();
    s.event_queue = events_.size();
    s.query_queue = queries_.size();
    s.encrypted = encryption_enabled();
    s.coordinate_resets = coord_client_.stats().resets;
    return s;
}

std::optional<coordinate> serf::coordinate_of(const std::string& name) const {
    if (!cfg_.coordinates) return std::nullopt;
    if (name == cfg_.node_name) return coord_client_.get();
    auto it = coord_cache_.find(name);
    if (it == coord_cache_.end()) return std::nullopt;
    return it->second;
}

}  // namespace meshfed::wan
