#pragma once
// serf's Vivaldi network coordinates (serf/coordinate: client.go, coordinate.go, config.go) and
// their wire forms: the msgpack Coordinate map{Adjustment f64, Error f64, Height f64,
// Vec [f64...]} (keys sorted, floats always cb) and the ping-ack payload 01 | msgpack Coordinate
// (serf/ping_delegate.go). Units are seconds, as in Go.
//
// Owns: coordinate (value type), coordinate_config (coordinate.DefaultConfig), coordinate_client
//   (the local node's Vivaldi state, per-peer latency filters, adjustment window, gravity).
// Threading: coordinate_client is not thread-safe (one owner, the serf state machine). Its only
//   randomness (a random unit vector when two coordinates coincide) comes from an injected seed.
// Errors: std::expected<T, coordinate_errc>; every rejected input is counted in
//   coordinate_client::stats() by reason. Nothing throws.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <expected>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wan/wire/errors.hpp"

namespace meshfed::wan {

struct coordinate_config {
    std::size_t dimensionality = 8;
    double vivaldi_error_max = 1.5;
    double vivaldi_ce = 0.25;
    double vivaldi_cc = 0.25;
    std::size_t adjustment_window_size = 20;
    double height_min = 10.0e-6;  // seconds
    std::size_t latency_filter_size = 3;
    double gravity_rho = 150.0;
};

// Wire form (msgpack): map{Adjustment f64, Error f64, Height f64, Vec [f64 x dims]}
struct coordinate {
    std::vector<double> vec;
    double error = 0.0;
    double adjustment = 0.0;
    double height = 0.0;

    static coordinate origin(const coordinate_config& cfg);  // zero vec, error max, height min
    bool is_valid() const;                                   // no NaN / Inf in any component
    bool compatible_with(const coordinate& other) const { return vec.size() == other.vec.size(); }
    bool operator==(const coordinate&) const = default;
};

enum class coordinate_errc : std::uint8_t {
    empty = 1,         // empty ack payload (peer has no ping delegate): not an error in serf
    bad_version,       // ack payload version byte != 1
    truncated,         // msgpack ended early
    malformed,         // not a Coordinate map
    oversized,         // Vec longer than max_coordinate_dims
    wrong_dimensions,  // Vec length != ours
    invalid_value,     // NaN or Inf component
    rtt_out_of_range,  // rtt < 0 or > 10 s
};
inline constexpr std::size_t coordinate_errc_count =
    static_cast<std::size_t>(coordinate_errc::rtt_out_of_range) + 1;
std::string_view to_string(coordinate_errc e) noexcept;

inline constexpr std::size_t max_coordinate_dims = 64;
inline constexpr std::uint8_t ping_payload_version = 1;

// msgpack Coordinate (no version byte).
wire::bytes encode_coordinate(const coordinate& c);
// Any Vec length up to max_coordinate_dims; NaN/Inf are decoded (check is_valid()).
std::expected<coordinate, coordinate_errc> decode_coordinate(std::span<const std::uint8_t> in);
// 01 | msgpack Coordinate
wire::bytes encode_ack_payload(const coordinate& c);
std::expected<coordinate, coordinate_errc> decode_ack_payload(std::span<const std::uint8_t> in);

// Estimated RTT between two coordinates (coordinate.go DistanceTo): Euclidean distance plus both
// heights, plus both adjustments if that stays positive. Incompatible dimensions -> nullopt.
std::optional<std::chrono::nanoseconds> distance_between(const coordinate& a, const coordinate& b);
// Same in seconds without the adjustment term (rawDistanceTo).
double raw_distance(const coordinate& a, const coordinate& b);

struct coordinate_stats {
    std::uint64_t updates = 0;
    std::uint64_t resets = 0;  // the coordinate went invalid and was reset to the origin
    std::array<std::uint64_t, coordinate_errc_count> rejected{};
    std::uint64_t count(coordinate_errc e) const { return rejected[static_cast<std::size_t>(e)]; }
};

class coordinate_client {
  public:
    explicit coordinate_client(coordinate_config cfg = {}, std::uint64_t seed = 1);

    const coordinate& get() const { return coord_; }
    // Replaces the local coordinate (e.g. restored); rejects wrong dimensions / invalid values.
    std::expected<void, coordinate_errc> set(const coordinate& c);
    // One RTT observation of `node` whose coordinate is `other`. Returns the new local
    // coordinate. Errors: wrong_dimensions, invalid_value, rtt_out_of_range (all counted).
    std::expected<coordinate, coordinate_errc> update(const std::string& node,
                                                      const coordinate& other,
                                                      std::chrono::nanoseconds rtt);
    void forget_node(const std::string& node) { latency_samples_.erase(node); }
    // Estimated RTT from us to `other` (nullopt: incompatible).
    std::optional<std::chrono::nanoseconds> distance_to(const coordinate& other) const {
        return distance_between(coord_, other);
    }
    const coordinate_config& config() const { return cfg_; }
    const coordinate_stats& stats() const { return stats_; }
    // Counts an input rejected before update() (e.g. a bad ack payload).
    void count_rejected(coordinate_errc e) { ++stats_.rejected[static_cast<std::size_t>(e)]; }

  private:
    double latency_filter(const std::string& node, double rtt_seconds);
    void update_vivaldi(const coordinate& other, double rtt_seconds);
    void update_adjustment(const coordinate& other, double rtt_seconds);
    void update_gravity();
    coordinate apply_force(const coordinate& from, double force, const coordinate& other);

    coordinate_config cfg_;
    coordinate coord_;
    coordinate origin_;
    std::size_t adjustment_index_ = 0;
    std::vector<double> adjustment_samples_;
    std::map<std::string, std::deque<double>> latency_samples_;
    std::mt19937_64 rng_;
    coordinate_stats stats_;
};

}  // namespace meshfed::wan
