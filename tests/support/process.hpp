#pragma once
// Test support: run `meshfed` as a child process, capture its output to a file, wait for text
// to appear, signal it, and reap it by PID. Every child is killed in the destructor so a
// failing test never leaves a process behind.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace meshfed::test {

// A TCP port the kernel just handed out on 127.0.0.1 (free unless someone races us for it).
inline int free_tcp_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        port = ntohs(addr.sin_port);
    }
    ::close(fd);
    return port;
}

struct command_result {
    int status = -1;     // exit code, -1 if killed or not run
    std::string output;  // stdout and stderr
};

// Runs a shell command to completion.
inline command_result run_command(const std::string& cmd) {
    command_result r;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
    int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

inline std::string read_text(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A fresh directory under /tmp removed at scope exit.
class temp_dir {
  public:
    temp_dir() {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / "meshfed-test-XXXXXX").string();
        path_ = ::mkdtemp(tmpl.data());
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& s) const { return path_ / s; }
    void write(const std::string& name, const std::string& text) const {
        std::ofstream(path_ / name, std::ios::binary) << text;
    }

  private:
    std::filesystem::path path_;
};

class child_process {
  public:
    // Runs `exe args...` with stdout+stderr appended to `log_file`. `in_child`, when given, runs
    // in the child between fork and exec (e.g. to enter a network namespace): it must only
    // make system calls, and returning false makes the child exit with status 126.
    child_process(const std::string& exe, const std::vector<std::string>& args,
                  std::filesystem::path log_file, const std::function<bool()>& in_child = {})
        : log_(std::move(log_file)) {
        pid_ = ::fork();
        if (pid_ == 0) {
            int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            if (in_child && !in_child()) ::_exit(126);
            std::vector<char*> argv;
            argv.push_back(const_cast<char*>(exe.c_str()));
            for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
            argv.push_back(nullptr);
            ::execv(exe.c_str(), argv.data());
            ::_exit(127);
        }
    }
    ~child_process() {
        if (running()) {
            ::kill(pid_, SIGKILL);
            wait_exit(std::chrono::seconds(5));
        }
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    pid_t pid() const { return pid_; }
    std::string output() const { return read_text(log_); }
    bool running() const { return pid_ > 0 && !status_; }
    void signal(int sig) const { ::kill(pid_, sig); }

    // Waits until `text` appears in the output (true) or the deadline/exit (false).
    bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            if (output().find(text) != std::string::npos) return true;
            if (!running() || poll_exit()) return output().find(text) != std::string::npos;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    }

    // Exit status (WEXITSTATUS, or 128+signal), or nullopt if still running at the deadline.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!status_) {
            if (poll_exit()) break;
            if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return status_;
    }

  private:
    bool poll_exit() {
        if (status_) return true;
        int st = 0;
        pid_t r = ::waitpid(pid_, &st, WNOHANG);
        if (r == pid_) {
            status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return true;
        }
        return false;
    }

    std::filesystem::path log_;
    pid_t pid_ = -1;
    std::optional<int> status_;
};

}  // namespace meshfed::test
