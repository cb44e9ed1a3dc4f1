#pragma once
// The server agent process: owns the io_context every module runs on, the data_dir lock, the
// signal handling (SIGINT/SIGTERM: clean shutdown; SIGHUP: reload config) and, as later
// modules land, the WAN pool, the RPC server and the HTTP API.
// Threading: run() drives one io_context on the calling thread; everything the agent owns
// runs on it. Errors: construction/startup problems throw agent_error (startup only).
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "agent/config/config.hpp"
#include "tls/configurator.hpp"

namespace meshfed::agent {

struct agent_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class agent {
  public:
    // `config_paths` and `opts` (the command-line overrides) are kept for SIGHUP reloads.
    agent(config::runtime_config cfg, std::vector<std::string> config_paths,
          config::load_options opts = {});
    // Builds and checks the TLS configurator for `cfg` (certificate files read and verified);
    // every problem found is returned, each naming the file.
    static std::expected<std::shared_ptr<tls::configurator>, std::vector<std::string>> make_tls(
        const config::runtime_config& cfg);
    ~agent();
    agent(const agent&) = delete;
    agent& operator=(const agent&) = delete;

    // Takes the data_dir lock, starts everything, runs until SIGINT/SIGTERM (or stop()).
    // Returns the process exit code.
    int run();
    void stop();  // thread-safe

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// Creates data_dir with mode 0700 if missing and takes an exclusive lock on
// <data_dir>/meshfed.lock, which stays held while the returned fd is open. Throws agent_error
// naming the directory (and the pid holding it) on failure.
int lock_data_dir(const std::string& data_dir);

}  // namespace meshfed::agent
