#include "agent/cli.hpp"

#include <iostream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "agent/agent.hpp"
#include "agent/cli_verbs.hpp"
#include "agent/config/config.hpp"
#include "agent/keygen.hpp"
#include "agent/mesh_gateway_cmd.hpp"
#include "common/log.hpp"
#include "common/version.hpp"
#include "tls/certgen.hpp"

namespace meshfed::agent {
namespace {

void print_problems(std::ostream& err, const std::vector<std::string>& errors) {
    err << fmt::format("{} error{} occurred:\n", errors.size(), errors.size() == 1 ? "" : "s");
    for (const auto& e : errors) err << "\t* " << e << "\n";
}

// Flags given to `meshfed agent` become a last config source, as Consul's flags do.
struct agent_flags {
    std::vector<std::string> configs;
    std::string node, datacenter, data_dir, bind, advertise, advertise_wan, client, log_level,
        encrypt;
    bool server = false, bootstrap = false, log_json = false;
    int bootstrap_expect = -1;

    config::source to_source() const {
        nlohmann::json j = nlohmann::json::object();
        if (!node.empty()) j["node_name"] = node;
        if (!datacenter.empty()) j["datacenter"] = datacenter;
        if (!data_dir.empty()) j["data_dir"] = data_dir;
        if (!bind.empty()) j["bind_addr"] = bind;
        if (!advertise.empty()) j["advertise_addr"] = advertise;
        if (!advertise_wan.empty()) j["advertise_addr_wan"] = advertise_wan;
        if (!client.empty()) j["client_addr"] = client;
        if (!log_level.empty()) j["log_level"] = log_level;
        if (!encrypt.empty()) j["encrypt"] = encrypt;
        if (server) j["server"] = true;
        if (bootstrap) j["bootstrap"] = true;
        if (log_json) j["log_json"] = true;
        if (bootstrap_expect >= 0) j["bootstrap_expect"] = bootstrap_expect;
        return {"command-line flags.json", j.dump()};
    }
};

}  // namespace

std::vector<std::string> normalize_go_flags(const std::vector<std::string>& args) {
    std::vector<std::string> out;
    out.reserve(args.size());
    bool rest_positional = false;
    for (const auto& a : args) {
        if (rest_positional) {
            out.push_back(a);
            continue;
        }
        if (a == "--") rest_positional = true;
        if (a.size() > 2 && a[0] == '-' && a[1] != '-' &&
            std::isalpha(static_cast<unsigned char>(a[1])))
            out.push_back("-" + a);
        else
            out.push_back(a);
    }
    return out;
}

int run_cli(const std::vector<std::string>& raw_args, std::ostream& out, std::ostream& err) {
    CLI::App app{"meshfed: a server agent that federates datacenters the way Consul servers do",
                 "meshfed"};
    app.require_subcommand(1);
    app.set_help_flag("-h,--help", "Show help");

    // agent
    agent_flags af;
    auto* agent_cmd = app.add_subcommand("agent", "Runs a meshfed server agent");
    agent_cmd->add_option("--config,--config-file,--config-dir", af.configs,
                          "Config file or directory (repeatable; .hcl or .json; a directory "
                          "loads its files in lexical order, later files override earlier ones)");
    agent_cmd->add_option("--node", af.node, "Node name (node_name)");
    agent_cmd->add_option("--datacenter", af.datacenter, "Datacenter (datacenter)");
    agent_cmd->add_option("--data-dir", af.data_dir, "Data directory (data_dir)");
    agent_cmd->add_option("--bind", af.bind, "Bind address (bind_addr)");
    agent_cmd->add_option("--advertise", af.advertise, "Advertise address (advertise_addr)");
    agent_cmd->add_option("--advertise-wan", af.advertise_wan,
                          "WAN advertise address (advertise_addr_wan)");
    agent_cmd->add_option("--client", af.client, "Client address (client_addr)");
    agent_cmd->add_option("--log-level", af.log_level, "Log level (log_level)");
    agent_cmd->add_option("--encrypt", af.encrypt, "Gossip encryption key (encrypt)");
    agent_cmd->add_option("--bootstrap-expect", af.bootstrap_expect, "bootstrap_expect");
    agent_cmd->add_flag("--server", af.server, "Run in server mode (server = true)");
    agent_cmd->add_flag("--bootstrap", af.bootstrap, "Bootstrap mode (bootstrap = true)");
    agent_cmd->add_flag("--log-json", af.log_json, "Log as JSON (log_json = true)");

    // validate
    std::vector<std::string> validate_paths;
    bool validate_quiet = false;
    auto* validate_cmd =
        app.add_subcommand("validate", "Validate config files/directories without starting");
    validate_cmd->add_option("paths", validate_paths, "Config files or directories")->required();
    validate_cmd->add_flag("--quiet", validate_quiet, "Print nothing on success");

    // tls ca create / tls cert create (consul tls ...)
    auto* tls_cmd = app.add_subcommand("tls", "Builtin helpers for creating CAs and certificates");
    tls_cmd->require_subcommand(1);
    auto* tls_ca = tls_cmd->add_subcommand("ca", "Helpers for CAs");
    tls_ca->require_subcommand(1);
    tls::ca_options ca_opts;
    auto* tls_ca_create = tls_ca->add_subcommand("create", "Create a new consul CA");
    tls_ca_create->add_option("--days", ca_opts.days, "Provide number of days the CA is valid for")
        ->capture_default_str();
    tls_ca_create->add_option("--domain", ca_opts.domain, "Domain of consul cluster")
        ->capture_default_str();
    tls_ca_create->add_flag("--name-constraint", ca_opts.name_constraint,
                            "Add name constraints for the CA (domain, localhost and "
                            "-additional-name-constraint)");
    tls_ca_create->add_option("--additional-name-constraint", ca_opts.additional_name_constraints,
                              "Additional name constraint (repeatable)");
    tls_ca_create->add_option("--common-name", ca_opts.common_name, "Common Name of CA");
    tls_ca_create->add_option("--cluster-id", ca_opts.cluster_id,
                              "ClusterID of the consul cluster (adds a SPIFFE URI SAN)");

    auto* tls_cert = tls_cmd->add_subcommand("cert", "Helpers for certificates");
    tls_cert->require_subcommand(1);
    tls::cert_options cert_opts;
    bool cert_server = false, cert_client = false, cert_cli = false;
    auto* tls_cert_create = tls_cert->add_subcommand("create", "Create a new certificate");
    tls_cert_create->add_flag("--server", cert_server, "Generate server certificate");
    tls_cert_create->add_flag("--client", cert_client, "Generate client certificate");
    tls_cert_create->add_flag("--cli", cert_cli, "Generate cli certificate");
    tls_cert_create->add_option("--dc", cert_opts.dc, "Provide the datacenter")
        ->capture_default_str();
    tls_cert_create->add_option("--domain", cert_opts.domain, "Provide the domain")
        ->capture_default_str();
    tls_cert_create
        ->add_option("--days", cert_opts.days,
                     "Provide number of days the certificate is valid for")
        ->capture_default_str();
    tls_cert_create->add_option("--node", cert_opts.node,
                                "When generating a server cert and this is set an additional "
                                "dns name is included of the form <node>.server.<dc>.<domain>");
    tls_cert_create->add_option("--ca", cert_opts.ca_file,
                                "Provide path to the ca (default #DOMAIN#-agent-ca.pem)");
    tls_cert_create->add_option("--key", cert_opts.key_file,
                                "Provide path to the key (default #DOMAIN#-agent-ca-key.pem)");
    tls_cert_create->add_option("--additional-dnsname", cert_opts.dns_names,
                                "Additional DNS name to add to the certificate (repeatable)");
    tls_cert_create->add_option("--additional-ipaddress", cert_opts.ip_addresses,
                                "Additional IP address to add to the certificate (repeatable)");

    auto* version_cmd = app.add_subcommand("version", "Prints the meshfed version");
    auto* keygen_cmd = app.add_subcommand("keygen", "Generates a new gossip encryption key");

    // members, catalog, join, force-leave, leave, keyring, info: clients of the HTTP API
    cli::http_verbs http_verbs;
    http_verbs.add_to(app);

    // mesh-gateway: `consul connect envoy -gateway=mesh -register -expose-servers`, with
    // meshfed's own SNI proxy in place of Envoy.
    mesh_gateway_options gw_opts;
    auto* gw_cmd = app.add_subcommand(
        "mesh-gateway", "Runs a mesh gateway (SNI-routing TCP proxy) for WAN federation");
    gw_cmd->add_option("--gateway", gw_opts.gateway, "The type of gateway to run (mesh)");
    gw_cmd->add_flag("--mesh-gateway", gw_opts.mesh_gateway,
                     "Deprecated spelling of -gateway=mesh");
    gw_cmd->add_flag("--register", gw_opts.register_service,
                     "Register the gateway with the local agent");
    gw_cmd->add_flag("--expose-servers", gw_opts.expose_servers,
                     "Expose this datacenter's servers to other datacenters (WAN federation)");
    gw_cmd->add_option("--address", gw_opts.address,
                       "LAN address to advertise in the registration (ip:port, default :8443)");
    gw_cmd->add_option("--wan-address", gw_opts.wan_address,
                       "WAN address to advertise in the registration (ip:port)");
    gw_cmd->add_option("--service", gw_opts.service,
                       "Service name to register (default mesh-gateway)");
    gw_cmd->add_option("--proxy-id", gw_opts.proxy_id, "Service ID (default: the service name)");
    gw_cmd->add_option("--deregister-after-critical", gw_opts.deregister_after_critical,
                       "How long the check may stay critical before deregistration (6h)");
    gw_cmd->add_option("--bind-address", gw_opts.bind_addresses,
                       "name=ip:port to listen on instead of -address/-wan-address (repeatable)");
    gw_cmd->add_option("--admin-bind", gw_opts.admin_bind,
                       "ip:port for the gateway's admin listener (GET /stats, /ready); "
                       "off unless set");
    gw_cmd->add_option("--http-addr", gw_opts.http.http_addr,
                       "Address of the local agent's HTTP API (also CONSUL_HTTP_ADDR, "
                       "MESHFED_HTTP_ADDR)");
    gw_cmd->add_option("--token", gw_opts.http.token, "ACL token (also CONSUL_HTTP_TOKEN)");
    gw_cmd->add_option("--ca-file", gw_opts.http.ca_file, "CA file for HTTPS to the agent");
    gw_cmd->add_option("--client-cert", gw_opts.http.client_cert, "Client certificate for HTTPS");
    gw_cmd->add_option("--client-key", gw_opts.http.client_key, "Client key for HTTPS");

    std::vector<std::string> args = normalize_go_flags(raw_args);
    std::vector<std::string> reversed(args.rbegin(),
                                      args.rend());  // CLI11 parses a reversed vector
    try {
        app.parse(reversed);
    } catch (const CLI::CallForHelp&) {
        // The help of the innermost verb given ("catalog services -h", "tls ca create -h").
        const CLI::App* verb = &app;
        while (!verb->get_subcommands().empty()) verb = verb->get_subcommands().front();
        out << verb->help();
        return 0;
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) {
            out << app.help();
            return 0;
        }
        err << e.what() << "\n";
        if (raw_args.empty()) err << app.help();
        return 1;
    }

    try {
        if (auto code = http_verbs.run(out, err, cli::process_env())) return *code;
        if (gw_cmd->parsed()) return run_mesh_gateway(gw_opts, out, err);
        if (version_cmd->parsed()) {
            out << version_banner();
            return 0;
        }
        if (tls_ca_create->parsed()) {
            auto r = tls::create_ca(ca_opts);
            if (!r) {
                err << r.error() << "\n";
                return 1;
            }
            for (const auto& m : r->messages) out << m << "\n";
            return 0;
        }
        if (tls_cert_create->parsed()) {
            auto kind = tls::cert_kind_from_flags(cert_server, cert_client, cert_cli);
            if (!kind) {
                err << kind.error() << "\n";
                return 1;
            }
            cert_opts.kind = *kind;
            auto r = tls::create_cert(cert_opts);
            if (!r) {
                err << r.error() << "\n";
                return 1;
            }
            for (const auto& m : r->messages) out << m << "\n";
            return 0;
        }
        if (keygen_cmd->parsed()) {
            out << generate_gossip_key() << "\n";
            return 0;
        }
        if (validate_cmd->parsed()) {
            auto r = config::load_config(validate_paths);
            for (const auto& w : r.warnings) err << "[WARN] " << w << "\n";
            if (!r.ok()) {
                err << "Config validation failed: ";
                print_problems(err, r.errors);
                return 1;
            }
            if (!validate_quiet) out << "Configuration is valid!\n";
            return 0;
        }
        if (agent_cmd->parsed()) {
            config::load_options opts;
            opts.overrides.push_back(af.to_source());
            auto r = config::load_config(af.configs, opts);
            if (!r.ok()) {
                err << "==> Error loading configuration: ";
                print_problems(err, r.errors);
                return 1;
            }
            log_options lo;
            lo.level = *parse_log_level(r.config.log_level);
            lo.json = r.config.log_json;
            init_logging(lo);
            auto log = get_logger("agent");
            for (const auto& w : r.warnings) log->warn("config: {}", w);
            class agent a(std::move(r.config), af.configs, std::move(opts));
            return a.run();
        }
    } catch (const std::exception& e) {
        err << "==> " << e.what() << "\n";
        return 1;
    }
    err << app.help();
    return 1;
}

}  // namespace meshfed::agent
