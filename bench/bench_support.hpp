#pragma once
// Helpers shared by the benchmark programs in bench/: machine description and round statistics.
#include <sys/types.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace meshfed::bench {

// The "model name" of /proc/cpuinfo (the machine line of every table).
inline std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return "unknown";
}

// The 1, 5 and 15 minute load averages, "a b c" (other work on the machine skews the figures).
inline std::string load_average() {
    std::ifstream in("/proc/loadavg");
    std::string a, b, c;
    in >> a >> b >> c;
    return a + " " + b + " " + c;
}

// One row of scripts/bench's combined table, appended to `path` (a --summary FILE option) as
// tab-separated: benchmark, metric, meshfed's figure, the peer's name, its figure, the ratio
// ("-" where there is no peer).
inline void summary_row(const std::string& path, const std::string& bench,
                        const std::string& metric, double ours, const std::string& peer = "-",
                        double theirs = 0) {
    if (path.empty()) return;
    std::ofstream out(path, std::ios::app);
    auto num = [](double v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.4g", v);
        return std::string(buf);
    };
    out << bench << '\t' << metric << '\t' << num(ours) << '\t' << peer << '\t'
        << (peer == "-" ? std::string("-") : num(theirs)) << '\t'
        << (peer == "-" || theirs == 0 ? std::string("-") : num(ours / theirs)) << '\n';
}

// A "Key:   123 kB" field of /proc/PID/status (VmRSS; RssAnon = private memory, the rest of
// VmRSS is mapped files such as shared libraries).
inline std::optional<long> status_kb(pid_t pid, const std::string& key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
    return std::nullopt;
}

// utime+stime of all threads, in clock ticks (/proc/PID/stat fields 14 and 15).
inline std::optional<long long> cpu_ticks(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    std::getline(in, stat);
    auto paren = stat.rfind(')');
    if (paren == std::string::npos) return std::nullopt;
    std::istringstream fields(stat.substr(paren + 2));
    std::vector<std::string> f;
    for (std::string t; fields >> t;) f.push_back(t);
    if (f.size() < 13) return std::nullopt;  // f[0] is field 3 (state)
    return std::stoll(f[11]) + std::stoll(f[12]);
}

// The median of per-round figures (upper median for an even count); 0 for none.
inline double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace meshfed::bench
