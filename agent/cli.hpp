#pragma once
// The `meshfed` command line: verbs `agent`, `validate`, `version`, `keygen`, `tls`, and the HTTP
// API clients of agent/cli_verbs.hpp (`members`, `catalog`, `join`, ...; more arrive with
// later modules). Flags are Go-style like Consul's (`-config x`, `--config=x`); `-h` on every
// verb. Output goes to the given streams so tests can capture it.
// Errors: returns the process exit code (0 ok, 1 error); never throws.
#include <iosfwd>
#include <string>
#include <vector>

namespace meshfed::agent {

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// Go's flag package accepts -name and --name alike; CLI11 wants --name for long options.
// Rewrites "-name..." (two or more characters after one dash) to "--name...".
std::vector<std::string> normalize_go_flags(const std::vector<std::string>& args);

}  // namespace meshfed::agent
