#include "rpc/command_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/log.hpp"

namespace meshfed::rpc {

namespace {

constexpr std::string_view log_magic = "MFCMDLG1";
constexpr std::string_view snapshot_magic = "MFSNAPS1";
constexpr std::size_t record_header = 16;    // len u32 + crc u32 + index u64
constexpr std::size_t snapshot_header = 28;  // magic 8 + index 8 + len 8 + crc 4
constexpr std::string_view log_name = "commands.log";
constexpr std::string_view snapshot_name = "snapshot.bin";

class log_category_impl : public std::error_category {
  public:
    const char* name() const noexcept override { return "command-log"; }
    std::string message(int ev) const override {
        switch (static_cast<log_errc>(ev)) {
            case log_errc::bad_header:
                return "command log: bad file header";
            case log_errc::corrupt_record:
                return "command log: corrupt record";
            case log_errc::corrupt_snapshot:
                return "command log: corrupt snapshot";
        }
        return "command log: unknown error";
    }
};

std::array<std::uint32_t, 256> make_crc_table() {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        t[i] = c;
    }
    return t;
}

void put_be(std::vector<std::uint8_t>& out, std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t get_be(const std::uint8_t* p, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
    return v;
}

std::uint32_t record_crc(std::uint64_t index, std::span<const std::uint8_t> payload) {
    std::array<std::uint8_t, 8> idx{};
    for (int i = 0; i < 8; ++i) idx[i] = static_cast<std::uint8_t>(index >> (8 * (7 - i)));
    return crc32_ieee(payload, crc32_ieee(idx));
}

log_error sys_error(std::string_view what, const std::filesystem::path& p, int err) {
    return {std::error_code(err, std::system_category()),
            fmt::format("{} {}: {}", what, p.string(), std::strerror(err))};
}

std::unexpected<log_error> fail(log_errc e, std::string message) {
    return std::unexpected(log_error{make_error_code(e), std::move(message)});
}

// Reads a whole file; nullopt when it does not exist.
std::expected<std::optional<std::vector<std::uint8_t>>, log_error> read_file(
    const std::filesystem::path& p) {
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return std::optional<std::vector<std::uint8_t>>{};
        return std::unexpected(sys_error("cannot open", p, errno));
    }
    std::vector<std::uint8_t> out;
    std::array<std::uint8_t, 65536> buf{};
    for (;;) {
        const auto n = ::read(fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            return std::unexpected(sys_error("cannot read", p, err));
        }
        if (n == 0) break;
        out.insert(out.end(), buf.begin(), buf.begin() + n);
    }
    ::close(fd);
    return std::optional<std::vector<std::uint8_t>>{std::move(out)};
}

std::expected<void, log_error> write_all(int fd, std::span<const std::uint8_t> data,
                                         const std::filesystem::path& p) {
    std::size_t done = 0;
    while (done < data.size()) {
        const auto n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return std::unexpected(sys_error("cannot write", p, errno));
        }
        done += static_cast<std::size_t>(n);
    }
    return {};
}

std::expected<void, log_error> sync_dir(const std::filesystem::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return std::unexpected(sys_error("cannot open directory", dir, errno));
    const int r = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (r != 0) return std::unexpected(sys_error("cannot fsync directory", dir, err));
    return {};
}

// Writes `data` to `target` atomically: target.tmp, fsync, rename, fsync directory.
std::expected<void, log_error> replace_file(const std::filesystem::path& target,
                                            std::span<const std::uint8_t> data, bool sync) {
    auto tmp = target;
    tmp += ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return std::unexpected(sys_error("cannot create", tmp, errno));
    auto w = write_all(fd, data, tmp);
    if (w && sync && ::fsync(fd) != 0) w = std::unexpected(sys_error("cannot fsync", tmp, errno));
    ::close(fd);
    if (!w) return w;
    if (::rename(tmp.c_str(), target.c_str()) != 0) {
        return std::unexpected(sys_error("cannot rename", tmp, errno));
    }
    if (sync) return sync_dir(target.parent_path());
    return {};
}

}  // namespace

const std::error_category& log_category() noexcept {
    static const log_category_impl cat;
    return cat;
}

std::error_code make_error_code(log_errc e) noexcept {
    return {static_cast<int>(e), log_category()};
}

std::uint32_t crc32_ieee(std::span<const std::uint8_t> data, std::uint32_t crc) {
    static const auto table = make_crc_table();
    crc = ~crc;
    for (auto b : data) crc = table[(crc ^ b) & 0xff] ^ (crc >> 8);
    return ~crc;
}

command_log::command_log(command_log_options options, state_store& store)
    : options_(std::move(options)), store_(store) {}

command_log::~command_log() {
    if (fd_ >= 0) ::close(fd_);
}

std::filesystem::path command_log::log_path() const {
    return options_.dir / log_name;
}
std::filesystem::path command_log::snapshot_path() const {
    return options_.dir / snapshot_name;
}

std::expected<std::unique_ptr<command_log>, log_error> command_log::open(
    command_log_options options, state_store& store, recovery_report* report) {
    recovery_report local;
    recovery_report& rep = report ? *report : local;
    auto log = get_logger("state");
    std::error_code ec;
    std::filesystem::create_directories(options.dir, ec);
    if (ec) {
        return std::unexpected(
            log_error{ec, fmt::format("cannot create {}: {}", options.dir.string(), ec.message())});
    }
    std::unique_ptr<command_log> self(new command_log(std::move(options), store));

    // 1. Snapshot.
    const auto snap_path = self->snapshot_path();
    auto snap = read_file(snap_path);
    if (!snap) return std::unexpected(snap.error());
    if (*snap) {
        const auto& b = **snap;
        if (b.size() < snapshot_header ||
            std::string_view(reinterpret_cast<const char*>(b.data()), 8) != snapshot_magic) {
            return fail(log_errc::corrupt_snapshot,
                        fmt::format("{}: bad header", snap_path.string()));
        }
        const auto index = get_be(b.data() + 8, 8);
        const auto len = get_be(b.data() + 16, 8);
        const auto crc = static_cast<std::uint32_t>(get_be(b.data() + 24, 4));
        if (len != b.size() - snapshot_header) {
            return fail(log_errc::corrupt_snapshot,
                        fmt::format("{}: length {} does not match the file ({} bytes)",
                                    snap_path.string(), len, b.size()));
        }
        const auto payload = std::span(b).subspan(snapshot_header);
        if (crc32_ieee(payload) != crc) {
            return fail(log_errc::corrupt_snapshot,
                        fmt::format("{}: CRC mismatch", snap_path.string()));
        }
        if (auto r = store.restore(payload); !r) {
            return fail(log_errc::corrupt_snapshot,
                        fmt::format("{}: {}", snap_path.string(), r.error().message));
        }
        if (store.last_index() != index) {
            return fail(log_errc::corrupt_snapshot,
                        fmt::format("{}: header index {} but state index {}", snap_path.string(),
                                    index, store.last_index()));
        }
        rep.had_snapshot = true;
        rep.snapshot_index = index;
    }
    self->last_index_ = store.last_index();

    // 2. Log replay.
    const auto path = self->log_path();
    auto file = read_file(path);
    if (!file) return std::unexpected(file.error());
    std::size_t good_end = 0;
    bool rewrite_header = false;
    if (!*file || (*file)->size() < log_magic.size()) {
        if (*file && !(*file)->empty()) {
            rep.warnings.push_back(
                fmt::format("{}: torn header ({} bytes) dropped", path.string(), (*file)->size()));
            rep.torn_bytes += (*file)->size();
        }
        rewrite_header = true;
    } else {
        const auto& b = **file;
        if (std::string_view(reinterpret_cast<const char*>(b.data()), 8) != log_magic) {
            return fail(log_errc::bad_header, fmt::format("{}: bad header", path.string()));
        }
        std::size_t off = log_magic.size();
        std::uint64_t prev_index = 0;
        while (off < b.size()) {
            const std::size_t left = b.size() - off;
            if (left < record_header) {
                rep.warnings.push_back(
                    fmt::format("{}: torn final record at offset {} ({} bytes) dropped",
                                path.string(), off, left));
                rep.torn_bytes += left;
                break;
            }
            const auto len = get_be(b.data() + off, 4);
            const auto crc = static_cast<std::uint32_t>(get_be(b.data() + off + 4, 4));
            const auto index = get_be(b.data() + off + 8, 8);
            if (len > self->options_.max_record) {
                return fail(log_errc::corrupt_record,
                            fmt::format("{}: corrupt record at offset {}: length {} above the "
                                        "limit {}",
                                        path.string(), off, len, self->options_.max_record));
            }
            if (len > left - record_header) {
                rep.warnings.push_back(
                    fmt::format("{}: torn final record at offset {} ({} of {} bytes) dropped",
                                path.string(), off, left, record_header + len));
                rep.torn_bytes += left;
                break;
            }
            const auto payload = std::span(b).subspan(off + record_header, len);
            const std::size_t end = off + record_header + len;
            if (record_crc(index, payload) != crc) {
                if (end == b.size()) {
                    rep.warnings.push_back(
                        fmt::format("{}: torn final record at offset {} (CRC mismatch) dropped",
                                    path.string(), off));
                    rep.torn_bytes += left;
                    break;
                }
                return fail(log_errc::corrupt_record,
                            fmt::format("{}: corrupt record at offset {}: CRC mismatch",
                                        path.string(), off));
            }
            if (index <= prev_index) {
                return fail(log_errc::corrupt_record,
                            fmt::format("{}: corrupt record at offset {}: index {} after {}",
                                        path.string(), off, index, prev_index));
            }
            prev_index = index;
            ++self->records_;
            if (index <= store.last_index()) {
                ++rep.skipped;
            } else {
                auto cmd = decode_command(payload);
                if (!cmd) {
                    return fail(log_errc::corrupt_record,
                                fmt::format("{}: corrupt record at offset {}: {}", path.string(),
                                            off, cmd.error().message()));
                }
                if (!*cmd) {
                    ++rep.skipped;
                } else if (auto r = store.apply(index, **cmd); !r) {
                    ++rep.rejected;
                } else {
                    ++rep.replayed;
                }
            }
            self->last_index_ = std::max(self->last_index_, index);
            off = end;
            good_end = off;
        }
        if (good_end == 0) good_end = log_magic.size();
        if (good_end < b.size()) {
            // Drop the torn tail so new records follow the last good one.
            if (::truncate(path.c_str(), static_cast<off_t>(good_end)) != 0) {
                return std::unexpected(sys_error("cannot truncate", path, errno));
            }
        }
        self->size_ = good_end;
    }
    for (const auto& w : rep.warnings) log->warn("{}", w);

    if (rewrite_header) {
        std::vector<std::uint8_t> header(log_magic.begin(), log_magic.end());
        if (auto r = replace_file(path, header, self->options_.sync); !r) {
            return std::unexpected(r.error());
        }
        self->size_ = header.size();
    }
    if (auto r = self->open_for_append(); !r) return std::unexpected(r.error());
    if (rep.replayed || rep.had_snapshot) {
        log->info("recovered index {} (snapshot {}, {} records replayed, {} skipped)",
                  store.last_index(), rep.snapshot_index, rep.replayed, rep.skipped);
    }
    return self;
}

std::expected<void, log_error> command_log::open_for_append() {
    if (fd_ >= 0) ::close(fd_);
    const auto path = log_path();
    fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd_ < 0) return std::unexpected(sys_error("cannot open", path, errno));
    return {};
}

std::expected<void, log_error> command_log::append(std::uint64_t index,
                                                   std::span<const std::uint8_t> payload) {
    std::vector<std::uint8_t> rec;
    rec.reserve(record_header + payload.size());
    put_be(rec, payload.size(), 4);
    put_be(rec, record_crc(index, payload), 4);
    put_be(rec, index, 8);
    rec.insert(rec.end(), payload.begin(), payload.end());
    const auto path = log_path();
    auto w = write_all(fd_, rec, path);
    if (w && options_.sync && ::fdatasync(fd_) != 0) {
        w = std::unexpected(sys_error("cannot fdatasync", path, errno));
    }
    if (!w) {
        // Best effort: cut a partial record so the next append starts on a boundary.
        (void)::ftruncate(fd_, static_cast<off_t>(size_));
        return w;
    }
    size_ += rec.size();
    ++records_;
    last_index_ = index;
    return {};
}

std::expected<std::uint64_t, store_error> command_log::commit(const command& c) {
    if (auto v = store_.validate(c); !v) return std::unexpected(v.error());
    const auto payload = encode_command(c);
    if (payload.size() > options_.max_record) {
        return std::unexpected(store_error{make_error_code(log_errc::corrupt_record),
                                           "command too large for the command log"});
    }
    const auto index = std::max(last_index_, store_.last_index()) + 1;
    if (auto a = append(index, payload); !a) {
        return std::unexpected(store_error{a.error().code, a.error().message});
    }
    auto r = store_.apply(index, c);
    if (records_ >= options_.snapshot_every) {
        if (auto s = snapshot_now(); !s) {
            get_logger("state")->warn("snapshot failed: {}", s.error().message);
        }
    }
    if (!r) return std::unexpected(r.error());
    return index;
}

std::expected<void, log_error> command_log::snapshot_now() {
    const auto payload = store_.snapshot();
    std::vector<std::uint8_t> file(snapshot_magic.begin(), snapshot_magic.end());
    put_be(file, store_.last_index(), 8);
    put_be(file, payload.size(), 8);
    put_be(file, crc32_ieee(payload), 4);
    file.insert(file.end(), payload.begin(), payload.end());
    if (auto r = replace_file(snapshot_path(), file, options_.sync); !r) return r;
    // Everything in the log is now in the snapshot: start an empty log.
    std::vector<std::uint8_t> header(log_magic.begin(), log_magic.end());
    if (auto r = replace_file(log_path(), header, options_.sync); !r) return r;
    size_ = header.size();
    records_ = 0;
    return open_for_append();
}

}  // namespace meshfed::rpc
