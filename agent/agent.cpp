#include "agent/agent.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include "common/log.hpp"
#include "common/version.hpp"

namespace meshfed::agent {

int lock_data_dir(const std::string& data_dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(data_dir, ec)) {
        fs::create_directories(data_dir, ec);
        if (ec)
            throw agent_error(
                fmt::format("cannot create data_dir \"{}\": {}", data_dir, ec.message()));
        ::chmod(data_dir.c_str(), 0700);
    } else if (!fs::is_directory(data_dir, ec)) {
        throw agent_error(fmt::format("data_dir \"{}\" is not a directory", data_dir));
    }
    std::string lock_path = (fs::path(data_dir) / "meshfed.lock").string();
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        throw agent_error(
            fmt::format("cannot open lock file \"{}\": {}", lock_path, std::strerror(errno)));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char buf[32] = {};
        ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
        std::string holder = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "unknown";
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' '))
            holder.pop_back();
        ::close(fd);
        throw agent_error(
            fmt::format("data_dir \"{}\" is in use by another agent (pid {} holds {})", data_dir,
                        holder, lock_path));
    }
    std::string pid = fmt::format("{}\n", ::getpid());
    if (::ftruncate(fd, 0) == 0) {
        [[maybe_unused]] auto w = ::pwrite(fd, pid.data(), pid.size(), 0);
    }
    return fd;
}

struct agent::impl {
    config::runtime_config cfg;
    std::vector<std::string> config_paths;
    config::load_options load_opts;
    asio::io_context io;
    asio::signal_set signals{io};
    std::shared_ptr<spdlog::logger> log = get_logger("agent");
    std::shared_ptr<tls::configurator> tls;
    int lock_fd = -1;
    bool stopping = false;

    void wait_signal() {
        signals.async_wait([this](std::error_code ec, int sig) {
            if (ec) return;
            if (sig == SIGHUP) {
                reload();
                wait_signal();
                return;
            }
            log->info("caught signal: {}", sig == SIGINT ? "interrupt" : "terminated");
            shutdown();
        });
    }

    // SIGHUP: re-read the config; a bad config is reported and the running one kept.
    void reload() {
        log->info("reloading configuration from {}", fmt::join(config_paths, ", "));
        auto r = config::load_config(config_paths, load_opts);
        if (!r.ok()) {
            for (const auto& e : r.errors) log->error("config reload failed: {}", e);
            log->error("configuration reload failed; keeping the running configuration");
            return;
        }
        if (auto lvl = parse_log_level(r.config.log_level)) {
            spdlog::apply_all(
                [&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(*lvl); });
            cfg.log_level = r.config.log_level;
        }
        log->info("configuration reloaded (log_level={})", cfg.log_level);
        if (tls && tls->enabled()) {
            auto errs = tls->reload();
            for (const auto& e : errs) log->error("TLS reload failed: {}", e);
            if (errs.empty()) {
                log->info("TLS certificates reloaded: cert_file={} key_file={} ca_file={}",
                          cfg.tls.cert_file, cfg.tls.key_file, cfg.tls.ca_file);
            } else {
                log->error(
                    "TLS reload failed; new connections keep using the previous certificates");
            }
        }
    }

    void shutdown() {
        if (stopping) return;
        stopping = true;
        log->info("shutting down agent: node={} datacenter={}", cfg.node_name, cfg.datacenter);
        signals.cancel();
        io.stop();
    }
};

agent::agent(config::runtime_config cfg, std::vector<std::string> config_paths,
             config::load_options opts)
    : impl_(std::make_unique<impl>()) {
    impl_->cfg = std::move(cfg);
    impl_->config_paths = std::move(config_paths);
    impl_->load_opts = std::move(opts);
}

agent::~agent() {
    if (impl_ && impl_->lock_fd >= 0) ::close(impl_->lock_fd);
}

std::expected<std::shared_ptr<tls::configurator>, std::vector<std::string>> agent::make_tls(
    const config::runtime_config& cfg) {
    tls::agent_identity id{cfg.datacenter, cfg.domain, cfg.node_name, cfg.server,
                           cfg.enable_mesh_gateway_wan_federation};
    return tls::configurator::create(cfg.tls, id);
}

void agent::stop() {
    asio::post(impl_->io, [this] { impl_->shutdown(); });
}

int agent::run() {
    auto& s = *impl_;
    const auto& c = s.cfg;
    auto tls = make_tls(c);
    if (!tls) {
        std::string all;
        for (const auto& e : tls.error()) all += "\n\t* " + e;
        throw agent_error(fmt::format("TLS configuration is invalid:{}", all));
    }
    s.tls = *tls;
    s.lock_fd = lock_data_dir(c.data_dir);
    s.signals.add(SIGINT);
    s.signals.add(SIGTERM);
    s.signals.add(SIGHUP);
    s.wait_signal();

    std::string advertise = c.advertise_addr.empty() ? c.bind_addr : c.advertise_addr;
    // The same banner a Consul operator reads at startup.
    fmt::print(
        "==> Starting meshfed agent...\n"
        "           Version: '{}'\n"
        "         Node name: '{}'\n"
        "        Datacenter: '{}' (Primary: '{}')\n"
        "            Server: {} (Bootstrap: {})\n"
        "       Client Addr: [{}] (HTTP: {}, HTTPS: {})\n"
        "      Cluster Addr: {} (LAN: {}, WAN: {})\n"
        "          Data Dir: '{}'\n"
        "      Gossip Encryption: {}, TLS: {}, WAN federation via mesh gateways: {}\n\n",
        version(), c.node_name, c.datacenter, c.primary_datacenter, c.server,
        c.bootstrap || c.bootstrap_expect == 1, c.client_addr, c.ports.http, c.ports.https,
        advertise, c.ports.serf_lan, c.ports.serf_wan, c.data_dir, !c.encrypt.empty(),
        c.tls.has_identity(), c.enable_mesh_gateway_wan_federation);
    std::fflush(stdout);
    s.log->info(
        "meshfed agent running: version={} node={} datacenter={} server={} bind_addr={} "
        "advertise_addr_wan={} ports: server={} serf_wan={} http={} data_dir={} pid={}",
        version(), c.node_name, c.datacenter, c.server, c.bind_addr,
        c.advertise_addr_wan.empty() ? advertise : c.advertise_addr_wan, c.ports.server,
        c.ports.serf_wan, c.ports.http, c.data_dir, ::getpid());
    s.io.run();
    s.log->info("agent stopped: node={} datacenter={}", c.node_name, c.datacenter);
    return 0;
}

}  // namespace meshfed::agent
