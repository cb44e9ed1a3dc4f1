#include "wan/pool.hpp"
#include "wan/wanfed.hpp"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "common/asio_compat.hpp"
#include "common/log.hpp"

namespace meshfed::wan {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::optional<pool::join_target> pool::parse_join_address(std::string_view s,
                                                          std::uint16_t default_port) {
    join_target t;
    t.port = default_port;
    if (auto slash = s.find('/'); slash != std::string_view::npos) {
        t.name = std::string(s.substr(0, slash));
        s.remove_prefix(slash + 1);
    }
    if (s.empty()) return std::nullopt;
    std::string_view host = s;
    std::string_view port;
    if (s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = s.substr(1, close - 1);
        std::string_view rest = s.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return std::nullopt;
            port = rest.substr(1);
        }
    } else if (auto colon = s.rfind(':'); colon != std::string_view::npos && s.find(':') == colon) {
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
    }
    if (host.empty()) return std::nullopt;
    t.host = std::string(host);
    if (!port.empty()) {
        unsigned v = 0;
        for (char c : port) {
            if (c < '0' || c > '9') return std::nullopt;
            v = v * 10 + static_cast<unsigned>(c - '0');
            if (v > 65535) return std::nullopt;
        }
        if (v == 0) return std::nullopt;
        t.port = static_cast<std::uint16_t>(v);
    }
    return t;
}

std::expected<std::vector<bytes>, std::string> pool::read_keyring_file(const fs::path& p) {
    std::ifstream in(p);
    if (!in) return std::unexpected(fmt::format("cannot read keyring file {}", p.string()));
    std::stringstream ss;
    ss << in.rdbuf();
    auto j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (j.is_discarded() || !j.is_array())
        return std::unexpected(
            fmt::format("keyring file {} is not a JSON list of base64 keys", p.string()));
    std::vector<bytes> keys;
    for (const auto& k : j) {
        if (!k.is_string())
            return std::unexpected(
                fmt::format("keyring file {}: entries must be strings", p.string()));
        auto key = wire::decode_base64_key(k.get<std::string>());
        if (!key)
            return std::unexpected(fmt::format("keyring file {}: invalid key \"{}\"", p.string(),
                                               k.get<std::string>()));
        keys.push_back(std::move(*key));
    }
    if (keys.empty())
        return std::unexpected(fmt::format("keyring file {} has no keys", p.string()));
    return keys;
}

std::string pool::write_keyring_file(const fs::path& p, std::span<const bytes> keys) {
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    ::chmod(p.parent_path().c_str(), 0700);
    nlohmann::json j = nlohmann::json::array();
    for (const auto& k : keys) j.push_back(wire::encode_base64(k));
    fs::path tmp = p;
    tmp += ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        if (!out) return fmt::format("cannot write keyring file {}", tmp.string());
        out << j.dump() << "\n";
        if (!out) return fmt::format("cannot write keyring file {}", tmp.string());
    }
    ::chmod(tmp.c_str(), 0600);
    fs::rename(tmp, p, ec);
    if (ec) return fmt::format("cannot replace keyring file {}: {}", p.string(), ec.message());
    return {};
}

pool::pool(asio::any_io_executor ex, pool_config cfg)
    : ex_(ex), cfg_(std::move(cfg)), log_(get_logger("agent.wan")) {}

pool::~pool() {
    shutdown();
}

std::expected<void, std::string> pool::start() {
    // Keyring: the persisted file wins over `encrypt` (which only seeds it), as in Consul.
    keys_ = std::make_shared<wire::keyring>();
    std::vector<bytes> keys;
    if (!cfg_.keyring_file.empty() && fs::exists(cfg_.keyring_file)) {
        auto r = read_keyring_file(cfg_.keyring_file);
        if (!r) return std::unexpected(r.error());
        keys = std::move(*r);
        if (!cfg_.initial_keys.empty())
            log_->warn(
                "serf: keyring file {} exists; the 'encrypt' key only seeds a new keyring and "
                "is ignored",
                cfg_.keyring_file.string());
    } else if (!cfg_.initial_keys.empty()) {
        keys = cfg_.initial_keys;
        if (!cfg_.keyring_file.empty()) {
            if (auto err = write_keyring_file(cfg_.keyring_file, keys); !err.empty())
                return std::unexpected(err);
        }
    }
    for (const auto& k : keys) {
        if (!keys_->add_key(k))
            return std::unexpected("invalid gossip key (must be 16, 24 or 32 bytes)");
    }

    transport_ = std::make_unique<transport>(ex_);
    if (auto ec = transport_->bind(cfg_.bind_addr, cfg_.port))
        return std::unexpected(
            fmt::format("cannot bind the WAN gossip port {}:{} (UDP and TCP): {}", cfg_.bind_addr,
                        cfg_.port, ec.message()));
    std::string adv = cfg_.advertise_addr.empty() ? cfg_.bind_addr : cfg_.advertise_addr;
    auto advertise = node_addr::parse(adv, transport_->port());
    if (!advertise || adv == "0.0.0.0" || adv == "::")
        return std::unexpected(fmt::format("WAN advertise address \"{}\" is not a usable IP", adv));

    auto now = clock::now();
    serf_config scfg;
    scfg.node_name = cfg_.name;
    scfg.tags = cfg_.tags;
    scfg.consul_wan_rules = cfg_.consul_wan_rules;
    scfg.reconnect_timeout = cfg_.timing.reconnect_timeout;
    scfg.reconnect_interval = cfg_.timing.reconnect_interval;
    scfg.tombstone_timeout = cfg_.timing.tombstone_timeout;
    scfg.gossip_interval = cfg_.timing.gossip_interval;
    scfg.keyring = keys_;
    scfg.seed = cfg_.seed;
    if (!cfg_.keyring_file.empty()) {
        scfg.persist_keyring = [path = cfg_.keyring_file](std::span<const bytes> k) {
            return write_keyring_file(path, k);
        };
    }
    // serf itself logs the member events; the agent hears them through on_member.
    scfg.callbacks.on_member = [this](member_event_type t, const member& m) {
        if (cfg_.on_member) cfg_.on_member(t, m);
    };
    serf_ = std::make_unique<serf>(scfg, now);

    memberlist_config mcfg;
    mcfg.name = cfg_.name;
    mcfg.advertise = *advertise;
    mcfg.timing = cfg_.timing;
    mcfg.label = cfg_.label;
    mcfg.keys = keys_;
    mcfg.verify_incoming = cfg_.verify_incoming;
    mcfg.verify_outgoing = cfg_.verify_outgoing;
    mcfg.seed = cfg_.seed;
    if (cfg_.tunnel) {
        // Consul: the TCP fallback ping is redundant for other datacenters, whose packets already
        // ride TLS connections through the gateways.
        mcfg.tcp_ping_allowed = [t = cfg_.tunnel](const node& n) {
            auto a = t->applies(n.name);
            return !(a && *a);
        };
        transport_->set_tunnel(cfg_.tunnel);
    }
    ml_ = std::make_unique<memberlist>(mcfg, *serf_, now);
    serf_->set_host(*ml_);
    transport::hooks h;
    h.next_wakeup = [this] { return serf_->next_wakeup(); };
    h.tick = [this](time_point t) { serf_->tick(t); };
    transport_->start(*ml_, std::move(h));
    log_->info(
        "serf: WAN gossip pool serving as {} on {} (UDP and TCP), advertising {}, "
        "encryption {}{}",
        cfg_.name, fmt::format("{}:{}", cfg_.bind_addr, transport_->port()), advertise->to_string(),
        keys_->empty() ? "off" : "on",
        cfg_.tunnel ? "; other datacenters through mesh gateways" : "");
    return {};
}

std::uint16_t pool::port() const {
    return transport_ ? transport_->port() : 0;
}

void pool::join(const std::vector<std::string>& addrs,
                std::function<void(int, std::vector<std::string>)> done) {
    auto run =
        [](pool* self, std::vector<std::string> addrs,
           std::function<void(int, std::vector<std::string>)> done) -> asio::awaitable<void> {
        std::vector<std::pair<std::string, node_addr>> peers;
        std::vector<std::string> errors;
        asio::ip::tcp::resolver resolver(self->ex_);
        for (const auto& a : addrs) {
            auto t = parse_join_address(a, self->cfg_.port ? self->cfg_.port : 8302);
            if (!t) {
                errors.push_back(fmt::format("invalid join address \"{}\"", a));
                continue;
            }
            if (auto ip = node_addr::parse(t->host, t->port)) {
                peers.emplace_back(t->name, *ip);
                continue;
            }
            auto [ec, results] = co_await resolver.async_resolve(t->host, std::to_string(t->port),
                                                                 nothrow_awaitable);
            if (ec || results.empty()) {
                errors.push_back(fmt::format("cannot resolve \"{}\": {}", t->host,
                                             ec ? ec.message() : "no addresses"));
                continue;
            }
            for (const auto& r : results) {
                auto addr = r.endpoint().address();
                if (auto ip = node_addr::parse(addr.to_string(), t->port))
                    peers.emplace_back(t->name, *ip);
            }
        }
        if (!self->serf_) co_return;
        if (peers.empty()) {
            if (done) done(0, errors);
            co_return;
        }
        self->serf_->join(clock::now(), peers, false,
                          [errors, done](int n, std::vector<std::string> errs) mutable {
                              errors.insert(errors.end(), errs.begin(), errs.end());
                              if (done) done(n, errors);
                          });
        self->transport_->kick();
    };
    asio::co_spawn(ex_, run(this, addrs, std::move(done)), asio::detached);
}

asio::awaitable<void> pool::leave() {
    if (!serf_) co_return;
    asio::steady_timer t(ex_);
    auto wait_until = [&](auto pred, std::chrono::milliseconds limit) -> asio::awaitable<void> {
        auto end = clock::now() + limit;
        while (!pred() && clock::now() < end) {
            t.expires_after(20ms);
            co_await t.async_wait(nothrow_awaitable);
        }
    };
    log_->info("serf: leaving the WAN pool as {}", cfg_.name);
    // Alone in the pool: nobody to tell, no reason to wait for gossip.
    bool alone = ml_->num_alive() <= 1;
    if (auto r = serf_->leave(clock::now()); !r) log_->warn("serf: leave: {}", r.error());
    transport_->kick();
    // serf's BroadcastTimeout (5 s) for the intent, then memberlist's own dead message.
    if (!alone) co_await wait_until([&] { return serf_->pending_broadcasts() == 0; }, 5000ms);
    ml_->leave(clock::now());
    transport_->kick();
    if (!alone) {
        co_await wait_until([&] { return ml_->pending_broadcasts() == 0; }, 5000ms);
        t.expires_after(1s);  // LeavePropagateDelay
        co_await t.async_wait(nothrow_awaitable);
    }
    serf_->finish_leave();
    shutdown();
}

void pool::shutdown() {
    if (transport_) transport_->stop();
    if (serf_ && serf_->state() != serf_state::shutdown) serf_->shutdown();
}

std::vector<member> pool::members() const {
    return serf_ ? serf_->members() : std::vector<member>{};
}

}  // namespace meshfed::wan
