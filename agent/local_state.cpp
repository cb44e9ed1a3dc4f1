#include "agent/local_state.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "agent/check_runner.hpp"
#include "common/log.hpp"

namespace meshfed::agent {

namespace {

using json = nlohmann::json;
using clock = std::chrono::steady_clock;

constexpr std::string_view server_service_id = "consul";     // the server's own registration
constexpr std::string_view server_check_id = "serfHealth";   // its node check
constexpr std::size_t max_persisted_file = 4 * 1024 * 1024;  // bounds what start() reads

std::string file_name_for(const std::string& id) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(id.data()), id.size());
    std::string hex;
    for (unsigned char b : digest) hex += fmt::format("{:02x}", b);
    return hex;
}

// Consul's deleteService/deleteCheck treat "Unknown service"/"Unknown check" as done.
bool already_gone(std::string_view err) {
    return err.find("Unknown service") != std::string_view::npos ||
           err.find("Unknown check") != std::string_view::npos;
}

}  // namespace

struct local_state::impl : std::enable_shared_from_this<local_state::impl> {
    struct service_entry {
        bool in_sync = false;
        std::uint64_t version = 0;
        json raw;  // persisted registration
    };
    struct check_meta {
        bool in_sync = false;
        std::uint64_t version = 0;
    };

    asio::io_context& io;
    local_state_config cfg;
    local_rpc_fn rpc;
    check_runner runner;
    std::map<std::string, rpc::node_service> services;
    std::map<std::string, service_entry> service_meta;
    std::map<std::string, local_check> checks;
    std::map<std::string, check_meta> check_state;
    std::set<std::string> deleted_services, deleted_checks;
    local_state_stats stats;
    std::uint64_t next_version = 1;
    bool running = false;
    bool syncing = false, sync_again = false, full_syncing = false;
    asio::steady_timer sync_timer, retry_timer, reap_timer;
    std::mt19937_64 rng{std::random_device{}()};
    std::shared_ptr<spdlog::logger> log = get_logger("agent");

    impl(asio::io_context& i, local_state_config c, local_rpc_fn r)
        : io(i),
          cfg(std::move(c)),
          rpc(std::move(r)),
          runner(i,
                 [this](const std::string& id, std::string status, std::string output) {
                     on_check_result(id, std::move(status), std::move(output));
                 }),
          sync_timer(i),
          retry_timer(i),
          reap_timer(i) {}

    std::filesystem::path services_dir() const { return cfg.data_dir / "services"; }

    // ---- persistence ----------------------------------------------------------------------------
    void persist(const std::string& id, const json& raw) {
        if (cfg.data_dir.empty() || raw.is_null()) return;
        std::error_code ec;
        std::filesystem::create_directories(services_dir(), ec);
        std::filesystem::permissions(services_dir(), std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::replace, ec);
        auto path = services_dir() / file_name_for(id);
        auto tmp = path;
        tmp += ".tmp";
        json doc = {{"Service", raw}};
        auto text = doc.dump();
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        bool ok = fd >= 0;
        if (ok) {
            const char* p = text.data();
            std::size_t left = text.size();
            while (left > 0 && ok) {
                auto n = ::write(fd, p, left);
                if (n <= 0) {
                    ok = false;
                    break;
                }
                p += n;
                left -= static_cast<std::size_t>(n);
            }
            ok = ::fsync(fd) == 0 && ok;
            ::close(fd);
        }
        if (ok) {
            std::filesystem::rename(tmp, path, ec);
            ok = !ec;
        }
        if (!ok) {
            ++stats.persist_errors;
            log->error("failed to persist service: service={} file={} error={}", id, path.string(),
                       ec ? ec.message() : std::strerror(errno));
        }
    }

    void unpersist(const std::string& id) {
        if (cfg.data_dir.empty()) return;
        std::error_code ec;
        std::filesystem::remove(services_dir() / file_name_for(id), ec);
    }

    void load() {
        if (cfg.data_dir.empty()) return;
        std::error_code ec;
        if (!std::filesystem::is_directory(services_dir(), ec)) return;
        for (const auto& entry : std::filesystem::directory_iterator(services_dir(), ec)) {
            const auto& p = entry.path();
            if (p.extension() == ".tmp" || !entry.is_regular_file(ec)) continue;
            auto fail = [&](const std::string& why) {
                ++stats.load_errors;
                log->error("Failed decoding service file: file={} error=\"{}\"", p.string(), why);
            };
            if (entry.file_size(ec) > max_persisted_file) {
                fail("file too large");
                continue;
            }
            std::ifstream in(p, std::ios::binary);
            std::stringstream ss;
            ss << in.rdbuf();
            auto doc = json::parse(ss.str(), nullptr, false);
            if (doc.is_discarded() || !doc.is_object() || !doc.contains("Service")) {
                fail("not a service registration");
                continue;
            }
            auto def = decode_service_definition(doc["Service"]);
            if (!def) {
                fail(def.error());
                continue;
            }
            log->info("restored service definition from file: service={} file={}", def->service.id,
                      p.string());
            add(std::move(*def), false, doc["Service"], false);
        }
    }

    // ---- changes --------------------------------------------------------------------------------
    void add(service_definition def, bool replace_existing_checks, const json& raw,
             bool persist_it) {
        const std::string id = def.service.id;
        deleted_services.erase(id);
        services[id] = def.service;
        auto& meta = service_meta[id];
        meta.in_sync = false;
        meta.version = next_version++;
        meta.raw = raw;

        std::set<std::string> kept;
        for (std::size_t i = 0; i < def.checks.size(); ++i) {
            const auto& ct = def.checks[i];
            auto hc = make_health_check(ct, def.service, cfg.node_name, i, def.checks.size());
            kept.insert(hc.check_id);
            local_check lc;
            // A check that existed keeps its status and output (Consul's check state snapshot).
            if (auto it = checks.find(hc.check_id); it != checks.end()) {
                hc.status = it->second.check.status;
                hc.output = it->second.check.output;
                lc.critical_since = it->second.critical_since;
            }
            if (hc.status == "critical" && !lc.critical_since) lc.critical_since = clock::now();
            if (hc.status != "critical") lc.critical_since.reset();
            lc.check = hc;
            lc.type = ct;
            const std::string cid = hc.check_id;
            deleted_checks.erase(cid);
            checks[cid] = std::move(lc);
            check_state[cid] = {false, next_version++};
            if (running) runner.start(cid, ct);
        }
        // Checks of this service from an earlier registration.
        std::vector<std::string> stale;
        for (auto& [cid, c] : checks) {
            if (c.check.service_id != id || kept.contains(cid)) continue;
            if (replace_existing_checks) {
                stale.push_back(cid);
            } else {
                // They describe the service as it is now.
                c.check.service_name = def.service.service;
                c.check.service_tags = def.service.tags;
            }
        }
        for (const auto& cid : stale) remove_check(cid);
        if (persist_it) persist(id, raw);
        log->info("added service to the agent: service={} checks={} node={} datacenter={}", id,
                  def.checks.size(), cfg.node_name, cfg.datacenter);
    }

    void remove_check(const std::string& cid) {
        runner.remove(cid);
        checks.erase(cid);
        check_state.erase(cid);
        deleted_checks.insert(cid);
    }

    bool remove(const std::string& id) {
        if (!services.contains(id)) return false;
        std::vector<std::string> owned;
        for (const auto& [cid, c] : checks)
            if (c.check.service_id == id) owned.push_back(cid);
        for (const auto& cid : owned) {
            runner.remove(cid);
            checks.erase(cid);
            check_state.erase(cid);
            // Catalog.Deregister of the service removes its checks as well.
            deleted_checks.erase(cid);
        }
        services.erase(id);
        service_meta.erase(id);
        deleted_services.insert(id);
        unpersist(id);
        return true;
    }

    void on_check_result(const std::string& id, std::string status, std::string output) {
        auto it = checks.find(id);
        if (it == checks.end()) return;
        auto& c = it->second;
        if (c.check.status == status && c.check.output == output) return;
        const bool status_changed = c.check.status != status;
        if (status_changed) {
            ++stats.status_changes;
            log->info("check status changed: check={} service={} status={} node={} datacenter={}",
                      id, c.check.service_id, status, cfg.node_name, cfg.datacenter);
            if (status == "critical") {
                c.critical_since = clock::now();
            } else {
                c.critical_since.reset();
            }
        }
        c.check.status = std::move(status);
        c.check.output = std::move(output);
        auto& st = check_state[id];
        st.in_sync = false;
        st.version = next_version++;
        // Output-only changes ride along with the next full sync (Consul defers them too).
        if (status_changed) sync_changes();
    }

    // ---- anti-entropy ---------------------------------------------------------------------------
    rpc::register_request base_register() const {
        rpc::register_request r;
        r.datacenter = cfg.datacenter;
        r.id = cfg.node_id;
        r.node = cfg.node_name;
        r.address = cfg.address;
        r.skip_node_update = true;  // the node itself is the server's own registration
        return r;
    }

    struct op {
        std::string method;
        std::vector<std::uint8_t> body;
        std::function<void(bool ok)> done;
        std::string what;
    };

    void sync_changes() {
        if (!running) return;
        if (syncing) {
            sync_again = true;
            return;
        }
        std::vector<op> ops;
        std::weak_ptr<impl> weak = weak_from_this();
        // Catalog.Deregister of one service (with its checks) or one check.
        auto deregister = [&](const std::string& id, bool is_service) {
            rpc::deregister_request d;
            d.datacenter = cfg.datacenter;
            d.node = cfg.node_name;
            (is_service ? d.service_id : d.check_id) = id;
            ops.push_back(
                {"Catalog.Deregister", rpc::encode_to_bytes(d),
                 [weak, id, is_service](bool ok) {
                     auto self = weak.lock();
                     if (!self || !ok) return;
                     // Re-added meanwhile: the registration wins.
                     if (is_service ? !self->services.contains(id) : !self->checks.contains(id))
                         (is_service ? self->deleted_services : self->deleted_checks).erase(id);
                     ++self->stats.sync_deregisters;
                     self->log->info("Deregistered {}: id={}", is_service ? "service" : "check",
                                     id);
                 },
                 (is_service ? "service " : "check ") + id});
        };
        for (const auto& id : deleted_services) deregister(id, true);
        for (const auto& cid : deleted_checks) deregister(cid, false);
        std::set<std::string> covered;
        for (const auto& [id, meta] : service_meta) {
            bool checks_dirty = false;
            for (const auto& [cid, c] : checks)
                if (c.check.service_id == id && !check_state[cid].in_sync) checks_dirty = true;
            if (meta.in_sync && !checks_dirty) continue;
            auto r = base_register();
            r.service = services.at(id);
            std::vector<std::pair<std::string, std::uint64_t>> versions;
            for (const auto& [cid, c] : checks) {
                if (c.check.service_id != id) continue;
                r.checks.push_back(c.check);
                versions.emplace_back(cid, check_state[cid].version);
                covered.insert(cid);
            }
            ops.push_back({"Catalog.Register", rpc::encode_to_bytes(r),
                           [weak, id, v = meta.version, versions](bool ok) {
                               auto self = weak.lock();
                               if (!self || !ok) return;
                               ++self->stats.sync_registers;
                               if (auto it = self->service_meta.find(id);
                                   it != self->service_meta.end() && it->second.version == v)
                                   it->second.in_sync = true;
                               for (const auto& [cid, cv] : versions) {
                                   if (auto it = self->check_state.find(cid);
                                       it != self->check_state.end() && it->second.version == cv)
                                       it->second.in_sync = true;
                               }
                           },
                           "service " + id});
        }
        if (ops.empty()) return;
        syncing = true;
        auto left = std::make_shared<std::size_t>(ops.size());
        auto failed = std::make_shared<bool>(false);
        for (auto& o : ops) {
            auto done = std::move(o.done);
            auto what = std::move(o.what);
            rpc(cfg.datacenter, o.method, std::move(o.body),
                [weak, done, what, left, failed](std::string err, std::vector<std::uint8_t>) {
                    auto self = weak.lock();
                    if (!self) return;
                    bool ok = err.empty() || already_gone(err);
                    if (!ok) {
                        *failed = true;
                        ++self->stats.sync_errors;
                        self->log->warn(
                            "failed to sync {} to the catalog: node={} datacenter={} "
                            "error=\"{}\"",
                            what, self->cfg.node_name, self->cfg.datacenter, err);
                    }
                    done(ok);
                    if (--*left == 0) self->sync_finished(*failed);
                });
        }
    }

    void sync_finished(bool failed) {
        syncing = false;
        if (failed) {
            std::weak_ptr<impl> weak = weak_from_this();
            retry_timer.expires_after(cfg.retry_interval);
            retry_timer.async_wait([weak](const std::error_code& ec) {
                if (ec) return;
                if (auto self = weak.lock()) self->sync_changes();
            });
            sync_again = false;
            return;
        }
        if (sync_again) {
            sync_again = false;
            sync_changes();
        }
    }

    void sync_full() {
        if (!running || full_syncing) return;
        full_syncing = true;
        ++stats.full_syncs;
        std::weak_ptr<impl> weak = weak_from_this();
        rpc::node_specific_request nreq;
        nreq.datacenter = cfg.datacenter;
        nreq.node = cfg.node_name;
        rpc(cfg.datacenter, "Catalog.NodeServices", rpc::encode_to_bytes(nreq),
            [weak](std::string err, std::vector<std::uint8_t> body) {
                auto self = weak.lock();
                if (!self) return;
                if (!err.empty()) return self->full_sync_failed(err);
                auto reply = rpc::decode_from_bytes<rpc::indexed_node_services>(body);
                if (!reply) return self->full_sync_failed(reply.error().message());
                std::map<std::string, rpc::node_service> remote;
                if (reply->node_services_) remote = reply->node_services_->services;
                rpc::service_dump_request dreq;
                dreq.datacenter = self->cfg.datacenter;
                self->rpc(self->cfg.datacenter, "Internal.ServiceDump", rpc::encode_to_bytes(dreq),
                          [weak, remote = std::move(remote)](std::string err,
                                                             std::vector<std::uint8_t> body) {
                              auto self = weak.lock();
                              if (!self) return;
                              if (!err.empty()) return self->full_sync_failed(err);
                              auto dump =
                                  rpc::decode_from_bytes<rpc::indexed_nodes_with_gateways>(body);
                              if (!dump) return self->full_sync_failed(dump.error().message());
                              self->reconcile(remote, dump->nodes);
                          });
            });
    }

    void full_sync_failed(const std::string& err) {
        full_syncing = false;
        ++stats.sync_errors;
        log->warn("anti-entropy: reading the catalog failed: node={} datacenter={} error=\"{}\"",
                  cfg.node_name, cfg.datacenter, err);
    }

    // Consul's updateSyncState: compare the catalog's view of this node with the local state.
    void reconcile(const std::map<std::string, rpc::node_service>& remote_services,
                   const std::vector<rpc::check_service_node>& dump) {
        full_syncing = false;
        const auto me = rpc::ascii_lower(cfg.node_name);
        std::map<std::string, rpc::health_check> remote_checks;
        for (const auto& csn : dump) {
            if (!csn.node_ || rpc::ascii_lower(csn.node_->name) != me) continue;
            for (const auto& c : csn.checks) remote_checks[c.check_id] = c;
        }
        for (const auto& [id, svc] : remote_services) {
            if (id == server_service_id) continue;
            if (auto it = services.find(id); it == services.end()) {
                deleted_services.insert(id);
            } else if (!rpc::same_service(it->second, svc)) {
                service_meta[id].in_sync = false;
            }
        }
        for (auto& [id, meta] : service_meta)
            if (!remote_services.contains(id)) meta.in_sync = false;
        for (const auto& [cid, c] : remote_checks) {
            if (cid == server_check_id || c.service_id == server_service_id) continue;
            if (auto it = checks.find(cid); it == checks.end()) {
                // Checks of a service being deregistered go with it.
                if (!deleted_services.contains(c.service_id)) deleted_checks.insert(cid);
            } else if (!rpc::same_check(it->second.check, c)) {
                check_state[cid].in_sync = false;
            }
        }
        for (auto& [cid, st] : check_state)
            if (!remote_checks.contains(cid)) st.in_sync = false;
        sync_changes();
    }

    void schedule_full_sync() {
        // Consul adds up to ~1/16 jitter so agents do not sync in lockstep.
        auto base = cfg.sync_interval;
        std::uniform_int_distribution<std::int64_t> dist(
            0, std::max<std::int64_t>(base.count() / 16, 0));
        sync_timer.expires_after(base + std::chrono::milliseconds(dist(rng)));
        std::weak_ptr<impl> weak = weak_from_this();
        sync_timer.async_wait([weak](const std::error_code& ec) {
            if (ec) return;
            auto self = weak.lock();
            if (!self || !self->running) return;
            self->sync_full();
            self->schedule_full_sync();
        });
    }

    // Consul's reapServices: DeregisterCriticalServiceAfter.
    void reap() {
        auto now = clock::now();
        std::set<std::string> doomed;
        for (const auto& [cid, c] : checks) {
            if (c.type.deregister_critical_after.count() <= 0 || !c.critical_since) continue;
            auto after = std::max<std::chrono::nanoseconds>(c.type.deregister_critical_after,
                                                            cfg.deregister_min);
            if (now - *c.critical_since >= after) {
                log->info(
                    "Check for service has been critical for too long; deregistered "
                    "service: service={} check={}",
                    c.check.service_id, cid);
                doomed.insert(c.check.service_id);
            }
        }
        for (const auto& id : doomed) {
            if (remove(id)) ++stats.services_reaped;
        }
        if (!doomed.empty()) sync_changes();
    }

    void schedule_reap() {
        reap_timer.expires_after(cfg.reap_interval);
        std::weak_ptr<impl> weak = weak_from_this();
        reap_timer.async_wait([weak](const std::error_code& ec) {
            if (ec) return;
            auto self = weak.lock();
            if (!self || !self->running) return;
            self->reap();
            self->schedule_reap();
        });
    }
};

local_state::local_state(asio::io_context& io, local_state_config cfg, local_rpc_fn rpc)
    : impl_(std::make_shared<impl>(io, std::move(cfg), std::move(rpc))) {}

local_state::~local_state() {
    stop();
}

void local_state::start() {
    auto& s = *impl_;
    if (s.running) return;
    s.load();
    s.running = true;
    for (const auto& [cid, c] : s.checks) s.runner.start(cid, c.type);
    s.sync_full();
    s.schedule_full_sync();
    s.schedule_reap();
}

void local_state::stop() {
    auto& s = *impl_;
    s.running = false;
    s.runner.stop();
    s.sync_timer.cancel();
    s.retry_timer.cancel();
    s.reap_timer.cancel();
}

void local_state::add_service(service_definition def, bool replace_existing_checks,
                              const nlohmann::json& raw) {
    impl_->add(std::move(def), replace_existing_checks, raw, true);
    impl_->sync_changes();
}

bool local_state::remove_service(const std::string& id) {
    if (!impl_->remove(id)) return false;
    impl_->log->info("Deregistered service from the agent: service={}", id);
    impl_->sync_changes();
    return true;
}

local_state::ttl_result local_state::update_ttl(const std::string& check_id, std::string status,
                                                std::string output) {
    auto& s = *impl_;
    if (!s.checks.contains(check_id)) return ttl_result::unknown_check;
    if (!s.runner.is_ttl(check_id)) return ttl_result::not_ttl;
    s.runner.ttl_update(check_id, std::move(status), std::move(output));
    return ttl_result::ok;
}

const std::map<std::string, rpc::node_service>& local_state::services() const {
    return impl_->services;
}
const std::map<std::string, local_check>& local_state::checks() const {
    return impl_->checks;
}
const local_state_stats& local_state::stats() const {
    return impl_->stats;
}
std::size_t local_state::tcp_checks() const {
    return impl_->runner.tcp_checks();
}
std::size_t local_state::ttl_checks() const {
    return impl_->runner.ttl_checks();
}
const local_state_config& local_state::config() const {
    return impl_->cfg;
}
void local_state::sync_changes() {
    impl_->sync_changes();
}
void local_state::sync_full() {
    impl_->sync_full();
}

}  // namespace meshfed::agent
