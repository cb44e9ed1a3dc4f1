#include "wan/coordinate.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include "common/msgpack.hpp"

namespace meshfed::wan {

namespace {

constexpr double zero_threshold = 1.0e-6;
constexpr double seconds_to_ns = 1.0e9;

double magnitude_of_diff(const std::vector<double>& a, const std::vector<double>& b) {
    double sum = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double d = a[i] - b[i];
        sum += d * d;
    }
    return std::sqrt(sum);
}

bool finite(double v) {
    return std::isfinite(v);
}

coordinate_errc map_err(std::error_code ec) {
    return ec == msgpack::errc::truncated ? coordinate_errc::truncated : coordinate_errc::malformed;
}

}  // namespace

std::string_view to_string(coordinate_errc e) noexcept {
    switch (e) {
        case coordinate_errc::empty:
            return "empty payload";
        case coordinate_errc::bad_version:
            return "unsupported ping version";
        case coordinate_errc::truncated:
            return "truncated";
        case coordinate_errc::malformed:
            return "malformed";
        case coordinate_errc::oversized:
            return "too many dimensions";
        case coordinate_errc::wrong_dimensions:
            return "dimensions aren't compatible";
        case coordinate_errc::invalid_value:
            return "coordinate is invalid";
        case coordinate_errc::rtt_out_of_range:
            return "round trip time not in valid range";
    }
    return "unknown";
}

coordinate coordinate::origin(const coordinate_config& cfg) {
    coordinate c;
    c.vec.assign(cfg.dimensionality, 0.0);
    c.error = cfg.vivaldi_error_max;
    c.adjustment = 0.0;
    c.height = cfg.height_min;
    return c;
}

bool coordinate::is_valid() const {
    for (double v : vec)
        if (!finite(v)) return false;
    return finite(error) && finite(adjustment) && finite(height);
}

wire::bytes encode_coordinate(const coordinate& c) {
    wire::bytes out;
    msgpack::writer w(out);
    w.write_map_header(4);
    w.write_str("Adjustment");
    w.write_float64(c.adjustment);
    w.write_str("Error");
    w.write_float64(c.error);
    w.write_str("Height");
    w.write_float64(c.height);
    w.write_str("Vec");
    w.write_array_header(static_cast<std::uint32_t>(c.vec.size()));
    for (double v : c.vec) w.write_float64(v);
    return out;
}

std::expected<coordinate, coordinate_errc> decode_coordinate(std::span<const std::uint8_t> in) {
    msgpack::reader r(in);
    coordinate c;
    auto n = r.read_map_header();
    if (!n) return std::unexpected(map_err(n.error()));
    for (std::uint32_t i = 0; i < *n; ++i) {
        auto key = r.read_str();
        if (!key) return std::unexpected(map_err(key.error()));
        if (r.next_is_nil()) {
            (void)r.read_nil();
            continue;
        }
        auto read_f = [&](double& out) -> std::expected<void, coordinate_errc> {
            auto v = r.read_float();
            if (!v) return std::unexpected(map_err(v.error()));
            out = *v;
            return {};
        };
        std::expected<void, coordinate_errc> res;
        if (*key == "Adjustment") {
            res = read_f(c.adjustment);
        } else if (*key == "Error") {
            res = read_f(c.error);
        } else if (*key == "Height") {
            res = read_f(c.height);
        } else if (*key == "Vec") {
            auto len = r.read_array_header();
            if (!len) return std::unexpected(map_err(len.error()));
            if (*len > max_coordinate_dims) return std::unexpected(coordinate_errc::oversized);
            c.vec.assign(*len, 0.0);
            for (std::uint32_t j = 0; j < *len && res; ++j) res = read_f(c.vec[j]);
        } else {
            auto s = r.skip();
            if (!s) return std::unexpected(map_err(s.error()));
        }
        if (!res) return std::unexpected(res.error());
    }
    return c;
}

wire::bytes encode_ack_payload(const coordinate& c) {
    wire::bytes out{ping_payload_version};
    auto body = encode_coordinate(c);
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

std::expected<coordinate, coordinate_errc> decode_ack_payload(std::span<const std::uint8_t> in) {
    if (in.empty()) return std::unexpected(coordinate_errc::empty);
    if (in[0] != ping_payload_version) return std::unexpected(coordinate_errc::bad_version);
    return decode_coordinate(in.subspan(1));
}

double raw_distance(const coordinate& a, const coordinate& b) {
    return magnitude_of_diff(a.vec, b.vec) + a.height + b.height;
}

std::optional<std::chrono::nanoseconds> distance_between(const coordinate& a, const coordinate& b) {
    if (!a.compatible_with(b)) return std::nullopt;
    double dist = raw_distance(a, b);
    const double adjusted = dist + a.adjustment + b.adjustment;
    if (adjusted > 0.0) dist = adjusted;
    const double ns = dist * seconds_to_ns;
    if (!finite(ns)) return std::nullopt;
    // Clamp to what a nanoseconds count can hold (Go's time.Duration conversion saturates).
    constexpr double max_ns = 9.2e18;
    return std::chrono::nanoseconds(static_cast<std::int64_t>(std::clamp(ns, -max_ns, max_ns)));
}

coordinate_client::coordinate_client(coordinate_config cfg, std::uint64_t seed)
    : cfg_(cfg),
      coord_(coordinate::origin(cfg)),
      origin_(coordinate::origin(cfg)),
      adjustment_samples_(cfg.adjustment_window_size, 0.0),
      rng_(seed) {}

std::expected<void, coordinate_errc> coordinate_client::set(const coordinate& c) {
    if (!coord_.compatible_with(c)) return std::unexpected(coordinate_errc::wrong_dimensions);
    if (!c.is_valid()) return std::unexpected(coordinate_errc::invalid_value);
    coord_ = c;
    return {};
}

double coordinate_client::latency_filter(const std::string& node, double rtt_seconds) {
    auto& samples = latency_samples_[node];
    samples.push_back(rtt_seconds);
    while (samples.size() > cfg_.latency_filter_size && !samples.empty()) samples.pop_front();
    std::vector<double> sorted(samples.begin(), samples.end());
    std::sort(sorted.begin(), sorted.end());
    return sorted[sorted.size() / 2];
}

coordinate coordinate_client::apply_force(const coordinate& from, double force,
                                          const coordinate& other) {
    coordinate ret = from;
    const std::size_t n = from.vec.size();
    std::vector<double> unit(n, 0.0);
    double mag = magnitude_of_diff(from.vec, other.vec);
    if (mag > zero_threshold) {
        for (std::size_t i = 0; i < n; ++i) unit[i] = (from.vec[i] - other.vec[i]) / mag;
    } else {
        // Coincident points: push in a random direction (Go: rand.Float64() - 0.5 per axis).
        std::uniform_real_distribution<double> dist(0.0, 1.0);
        double sum = 0.0;
        for (auto& u : unit) {
            u = dist(rng_) - 0.5;
            sum += u * u;
        }
        const double rmag = std::sqrt(sum);
        if (rmag > zero_threshold) {
            for (auto& u : unit) u /= rmag;
        } else {
            std::fill(unit.begin(), unit.end(), 0.0);
            if (n > 0) unit[0] = 1.0;
        }
        mag = 0.0;
    }
    for (std::size_t i = 0; i < n; ++i) ret.vec[i] += unit[i] * force;
    if (mag > zero_threshold) {
        ret.height = (ret.height + other.height) * force / mag + ret.height;
        ret.height = std::max(ret.height, cfg_.height_min);
    }
    return ret;
}

void coordinate_client::update_vivaldi(const coordinate& other, double rtt_seconds) {
    const double dist =
        distance_between(coord_, other).value_or(std::chrono::nanoseconds(0)).count() /
        seconds_to_ns;
    if (rtt_seconds < zero_threshold) rtt_seconds = zero_threshold;
    const double wrongness = std::abs(dist - rtt_seconds) / rtt_seconds;

    double total_error = coord_.error + other.error;
    if (total_error < zero_threshold) total_error = zero_threshold;
    const double weight = coord_.error / total_error;

    coord_.error =
        cfg_.vivaldi_ce * weight * wrongness + coord_.error * (1.0 - cfg_.vivaldi_ce * weight);
    if (coord_.error > cfg_.vivaldi_error_max) coord_.error = cfg_.vivaldi_error_max;

    const double delta = cfg_.vivaldi_cc * weight;
    const double force = delta * (rtt_seconds - dist);
    coord_ = apply_force(coord_, force, other);
}

void coordinate_client::update_adjustment(const coordinate& other, double rtt_seconds) {
    if (cfg_.adjustment_window_size == 0) return;
    const double dist = raw_distance(coord_, other);
    adjustment_samples_[adjustment_index_] = rtt_seconds - dist;
    adjustment_index_ = (adjustment_index_ + 1) % cfg_.adjustment_window_size;
    double sum = 0.0;
    for (double s : adjustment_samples_) sum += s;
    coord_.adjustment = sum / (2.0 * static_cast<double>(cfg_.adjustment_window_size));
}

void coordinate_client::update_gravity() {
    const double dist =
        distance_between(origin_, coord_).value_or(std::chrono::nanoseconds(0)).count() /
        seconds_to_ns;
    const double force = -1.0 * std::pow(dist / cfg_.gravity_rho, 2.0);
    coord_ = apply_force(coord_, force, origin_);
}

std::expected<coordinate, coordinate_errc> coordinate_client::update(const std::string& node,
                                                                     const coordinate& other,
                                                                     std::chrono::nanoseconds rtt) {
    auto reject = [&](coordinate_errc e) -> std::expected<coordinate, coordinate_errc> {
        count_rejected(e);
        return std::unexpected(e);
    };
    if (!coord_.compatible_with(other)) return reject(coordinate_errc::wrong_dimensions);
    if (!other.is_valid()) return reject(coordinate_errc::invalid_value);
    if (rtt < std::chrono::nanoseconds(0) || rtt > std::chrono::seconds(10))
        return reject(coordinate_errc::rtt_out_of_range);

    const double rtt_seconds =
        latency_filter(node, static_cast<double>(rtt.count()) / seconds_to_ns);
    update_vivaldi(other, rtt_seconds);
    update_adjustment(other, rtt_seconds);
    update_gravity();
    if (!coord_.is_valid()) {
        ++stats_.resets;
        coord_ = coordinate::origin(cfg_);
    }
    ++stats_.updates;
    return coord_;
}

}  // namespace meshfed::wan
