#pragma once
// Helpers shared by the benchmark programs in bench/: machine description and round statistics.
#include <algorithm>
#include <fstream>
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

// The median of per-round figures (upper median for an even count); 0 for none.
inline double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace meshfed::bench
