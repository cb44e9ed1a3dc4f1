#include "agent/config/validate.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <sstream>

#include <fmt/format.h>
#include <sodium.h>

#include "common/log.hpp"
#include "tls/settings.hpp"

namespace meshfed::config {
namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

bool is_ip(const std::string& s) {
    unsigned char buf[16];
    return ::inet_pton(AF_INET, s.c_str(), buf) == 1 || ::inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool is_unspecified(const std::string& s) {
    return s == "0.0.0.0" || s == "::" || s == "[::]";
}

const position nowhere{};

}  // namespace

std::expected<std::vector<std::uint8_t>, std::string> decode_gossip_key(const std::string& b64) {
    if (sodium_init() < 0) return std::unexpected("libsodium failed to initialise");
    std::vector<std::uint8_t> out(b64.size());
    std::size_t len = 0;
    const char* end = nullptr;
    if (sodium_base642bin(out.data(), out.size(), b64.data(), b64.size(), nullptr, &len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        (end && end != b64.data() + b64.size())) {
        std::size_t at = end ? static_cast<std::size_t>(end - b64.data()) : 0;
        return std::unexpected(fmt::format("illegal base64 data at input byte {}", at));
    }
    out.resize(len);
    if (len != 16 && len != 24 && len != 32)
        return std::unexpected(
            fmt::format("key size must be 16, 24 or 32 bytes (got {} bytes)", len));
    return out;
}

void finalize_config(runtime_config& c, const set_paths& set, const std::string& default_node,
                     diagnostics& d) {
    static const std::pair<const char*, const char*> legacy[] = {
        {"ca_file", "tls.defaults.ca_file"},
        {"cert_file", "tls.defaults.cert_file"},
        {"key_file", "tls.defaults.key_file"},
        {"verify_incoming", "tls.defaults.verify_incoming"},
        {"verify_outgoing", "tls.defaults.verify_outgoing"},
        {"verify_server_hostname", "tls.internal_rpc.verify_server_hostname"},
    };
    for (const auto& [old_key, new_key] : legacy) {
        if (set.contains(old_key))
            d.warn(nowhere, fmt::format("The '{}' field is deprecated. Use the '{}' field instead.",
                                        old_key, new_key));
    }
    if (!set.contains("node_name")) c.node_name = default_node;
    c.datacenter = lower(c.datacenter);
    if (c.primary_datacenter.empty()) c.primary_datacenter = c.datacenter;
    c.primary_datacenter = lower(c.primary_datacenter);
    if (c.advertise_addr.empty() && !is_unspecified(c.bind_addr)) c.advertise_addr = c.bind_addr;
    if (c.advertise_addr_wan.empty()) c.advertise_addr_wan = c.advertise_addr;
}

void validate_config(const runtime_config& c, const set_paths& set, const load_options& opts,
                     diagnostics& d) {
    auto err = [&](std::string msg) { d.errors.push_back(std::move(msg)); };
    // An error about one option, prefixed with where it was set (when it was).
    auto err_at = [&](const char* path, std::string msg) {
        auto it = set.find(path);
        if (it == set.end()) {
            err(std::move(msg));
        } else {
            d.error(it->second, msg);
        }
    };

    // Names: '.' would break the WAN name <node>.<dc> and the TLS names
    // <node>.server.<dc>.<domain>.
    if (c.node_name.empty()) err_at("node_name", "node_name cannot be empty");
    if (c.node_name.find('.') != std::string::npos)
        err_at("node_name",
               fmt::format("node_name \"{}\" must not contain '.' (WAN member names are "
                           "<node_name>.<datacenter>)",
                           c.node_name));
    if (c.datacenter.empty()) {
        err_at("datacenter", "datacenter cannot be empty");
    } else if (!std::all_of(c.datacenter.begin(), c.datacenter.end(), [](unsigned char ch) {
                   return std::islower(ch) || std::isdigit(ch) || ch == '-' || ch == '_';
               })) {
        err_at("datacenter",
               fmt::format("datacenter \"{}\" can only contain lowercase alphanumeric, - or _ "
                           "characters.",
                           c.datacenter));
    }
    if (!c.primary_datacenter.empty() &&
        !std::all_of(c.primary_datacenter.begin(), c.primary_datacenter.end(),
                     [](unsigned char ch) {
                         return std::islower(ch) || std::isdigit(ch) || ch == '-' || ch == '_';
                     })) {
        err_at(
            "primary_datacenter",
            fmt::format("primary_datacenter \"{}\" can only contain lowercase alphanumeric, - or "
                        "_ characters.",
                        c.primary_datacenter));
    }
    if (c.domain.empty()) err("domain cannot be empty");

    if (opts.require_data_dir && c.data_dir.empty()) err("data_dir cannot be empty");

    // Addresses.
    if (!is_ip(c.bind_addr))
        err_at("bind_addr",
               fmt::format("bind_addr: \"{}\" is not a valid IP address", c.bind_addr));
    if (!c.advertise_addr.empty() && !is_ip(c.advertise_addr))
        err_at("advertise_addr",
               fmt::format("advertise_addr: \"{}\" is not a valid IP address", c.advertise_addr));
    if (!c.advertise_addr_wan.empty() && !is_ip(c.advertise_addr_wan))
        err_at("advertise_addr_wan",
               fmt::format("advertise_addr_wan: \"{}\" is not a valid IP address",
                           c.advertise_addr_wan));
    {
        std::istringstream ss(c.client_addr);
        std::string a;
        bool any = false;
        while (ss >> a) {
            any = true;
            if (!is_ip(a))
                err_at("client_addr",
                       fmt::format("client_addr: \"{}\" is not a valid IP address", a));
        }
        if (!any) err("client_addr cannot be empty");
    }

    // Ports: 0 asks the kernel for a free port (tests); -1 disables where Consul allows it.
    auto port = [&](const char* name, int v, bool may_disable) {
        if (v == -1 && may_disable) return;
        if (v < 0 || v > 65535)
            err_at(fmt::format("ports.{}", name).c_str(),
                   fmt::format("ports.{}: invalid port {} (must be 0-65535{})", name, v,
                               may_disable ? ", or -1 to disable" : ""));
    };
    port("http", c.ports.http, true);
    port("https", c.ports.https, true);
    port("server", c.ports.server, false);
    port("serf_lan", c.ports.serf_lan, true);
    port("serf_wan", c.ports.serf_wan, true);

    // Server / bootstrap.
    if (c.bootstrap_expect < 0)
        err(fmt::format("bootstrap_expect cannot be {}. Must be greater than or equal to zero",
                        c.bootstrap_expect));
    if (c.bootstrap_expect > 0 && !c.server) err("'bootstrap_expect > 0' requires 'server = true'");
    if (c.bootstrap_expect > 0 && c.bootstrap)
        err("'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive");
    if (c.bootstrap && !c.server) err("'bootstrap = true' requires 'server = true'");
    if (c.bootstrap_expect > 1)
        err_at("bootstrap_expect",
               fmt::format("bootstrap_expect = {}: multi-server datacenters are not supported yet; "
                           "run one server per datacenter with bootstrap_expect = 1 or bootstrap = "
                           "true",
                           c.bootstrap_expect));

    // Gossip key.
    if (!c.encrypt.empty()) {
        if (auto k = decode_gossip_key(c.encrypt); !k)
            err_at("encrypt", fmt::format("encrypt has invalid key: {}", k.error()));
    }

    // TLS.
    if (!tls::is_valid_min_version(c.tls.min_version))
        err_at("tls.defaults.tls_min_version",
               fmt::format("tls.defaults.tls_min_version: invalid value \"{}\" (use TLSv1_0, "
                           "TLSv1_1, TLSv1_2 or TLSv1_3)",
                           c.tls.min_version));
    if ((!c.tls.cert_file.empty()) != (!c.tls.key_file.empty()))
        err("tls.defaults: cert_file and key_file must be set together");
    if (c.tls.verify_incoming && c.tls.ca_file.empty())
        err("VerifyIncoming set, and no CA certificate provided!");
    if (c.tls.verify_outgoing && c.tls.ca_file.empty())
        err("VerifyOutgoing set, and no CA certificate provided!");
    if (c.tls.verify_server_hostname && c.tls.ca_file.empty())
        err("VerifyServerHostname set, and no CA certificate provided!");

    // Primary gateways and WAN federation via mesh gateways (Consul's texts).
    if (!c.primary_gateways.empty()) {
        if (!c.server) err("'primary_gateways' requires 'server = true'");
        if (c.primary_datacenter == c.datacenter)
            err("'primary_gateways' should only be configured in a secondary datacenter");
    }
    if (c.enable_mesh_gateway_wan_federation) {
        if (!c.connect_enabled)
            err("'connect.enable_mesh_gateway_wan_federation=true' requires "
                "'connect.enabled=true'");
        if (!c.server)
            err("'connect.enable_mesh_gateway_wan_federation = true' requires 'server = true'");
        if (c.node_name.find('/') != std::string::npos)
            err("'connect.enable_mesh_gateway_wan_federation = true' requires that 'node_name' not "
                "contain '/' characters");
        if (!c.retry_join_wan.empty())
            err("'retry_join_wan' is incompatible with "
                "'connect.enable_mesh_gateway_wan_federation = true'");
        // Consul only fails at dial time ("cannot dial via a mesh gateway when outgoing TLS is
        // disabled"); saying it at startup saves an operator a confusing half-working federation.
        if (!c.tls.has_identity())
            err("'connect.enable_mesh_gateway_wan_federation = true' requires TLS: set "
                "tls.defaults.ca_file, tls.defaults.cert_file and tls.defaults.key_file");
    }

    if (!parse_log_level(c.log_level))
        err_at("log_level",
               fmt::format("log_level: invalid value \"{}\" (use trace, debug, info, warn or err)",
                           c.log_level));

    if (c.primary_gateways_interval.count() <= 0) err("primary_gateways_interval must be positive");
    if (c.retry_interval_wan.count() <= 0) err("retry_interval_wan must be positive");
    for (auto& e : c.gossip_wan.validate()) err(e);
    for (auto& e : c.limits.validate()) err(e);
    if (c.rpc_busy_poll.count() < 0 || c.rpc_busy_poll > std::chrono::milliseconds(10))
        err_at("performance.rpc_busy_poll",
               "performance.rpc_busy_poll must be between 0 (off) and 10ms");
}

}  // namespace meshfed::config
