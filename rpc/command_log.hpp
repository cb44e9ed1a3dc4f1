#pragma once
// Persistence of the state store under data_dir, owned by rpc/: an append-only log of the
// commands applied to the store, periodic full snapshots with log truncation, and recovery
// (snapshot, then replay) on start.
//
// Files in options.dir (normally <data_dir>/state), integers big-endian:
//   commands.log  "MFCMDLG1" (8 bytes), then records:
//                   u32 payload length | u32 CRC-32 (IEEE) of (index bytes + payload) |
//                   u64 index | payload = encode_command() (Consul raft entry: type byte +
//                   msgpack request)
//                 Indexes strictly increase along the file.
//   snapshot.bin  "MFSNAPS1" | u64 index | u64 payload length | u32 CRC-32 of payload |
//                 payload = state_store::snapshot()
//   *.tmp         a snapshot or fresh log being written; renamed into place when complete.
// Durability: commit() writes one record and fdatasync()s it before applying the command to the
//   store and returning (options.sync = false skips the fsyncs: tests, benchmarks). A snapshot
//   is written to snapshot.tmp, fsynced, renamed over snapshot.bin, the directory fsynced; only
//   then is the log replaced by an empty one (same tmp + rename dance). A crash between the two
//   leaves records at or below the snapshot index, which replay skips.
// Recovery (open): snapshot.bin restored (a bad magic/length/CRC is an error naming the file),
//   then every record above the snapshot index applied in order. A final record that is cut
//   short (header or payload extends past the end of the file), or whose CRC fails while it
//   ends exactly at the end of the file, is a torn write: dropped with a warning (the file is
//   truncated to the last good record), not fatal. A bad record with valid data after it, a
//   length above options.max_record, or a non-increasing index is corruption: open() fails with
//   an error naming the file and byte offset.
// Raft seam: commit() is the only write path (endpoints::set_commit). A Raft log replaces it
//   without touching the store or the endpoints: the leader appends encode_command(c) as a log
//   entry (same bytes Consul's FSM consumes), and every server applies committed entries with
//   state_store::apply(raft_index, decode_command(entry)); state_store::snapshot()/restore()
//   become the FSM Snapshot/Restore, and this file format becomes Raft's log/snapshot store.
// Threading: synchronous file I/O on the caller's thread (the agent's io_context thread);
//   not thread-safe.
// Errors: log_error {code in log_errc or a system errno, message naming file and offset};
//   commit() returns store_error (validation failures from the store, or the I/O error).
//   No exceptions.
#include <cstddef>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "rpc/state_store.hpp"

namespace meshfed::rpc {

enum class log_errc {
    bad_header = 1,    // a file does not start with its magic
    corrupt_record,    // a record in the middle of the log fails its checks
    corrupt_snapshot,  // snapshot.bin fails its checks or does not decode
};

const std::error_category& log_category() noexcept;
std::error_code make_error_code(log_errc e) noexcept;

}  // namespace meshfed::rpc

template <>
struct std::is_error_code_enum<meshfed::rpc::log_errc> : std::true_type {};

namespace meshfed::rpc {

struct log_error {
    std::error_code code;
    std::string message;
};

struct command_log_options {
    std::filesystem::path dir;                  // created if missing
    bool sync = true;                           // fdatasync every append, fsync snapshots
    std::size_t snapshot_every = 4096;          // records in the log before snapshot + truncation
    std::size_t max_record = 64 * 1024 * 1024;  // payload bytes of one record
};

struct recovery_report {
    bool had_snapshot = false;
    std::uint64_t snapshot_index = 0;
    std::uint64_t replayed = 0;    // records applied to the store
    std::uint64_t skipped = 0;     // records at or below the snapshot index, or ignorable types
    std::uint64_t rejected = 0;    // records the store refused (their index is still consumed)
    std::uint64_t torn_bytes = 0;  // bytes of a torn final record that were dropped
    std::vector<std::string> warnings;
};

// CRC-32 (IEEE 802.3, the zlib/Go hash/crc32 polynomial).
std::uint32_t crc32_ieee(std::span<const std::uint8_t> data, std::uint32_t crc = 0);

class command_log {
  public:
    // Recovers `store` (which should be empty) from options.dir and opens the log for appends.
    static std::expected<std::unique_ptr<command_log>, log_error> open(
        command_log_options options, state_store& store, recovery_report* report = nullptr);
    ~command_log();
    command_log(const command_log&) = delete;
    command_log& operator=(const command_log&) = delete;

    // Validates `c` against the store, appends it at the next index, syncs, applies it, and
    // snapshots when the log holds options.snapshot_every records. Returns the index.
    std::expected<std::uint64_t, store_error> commit(const command& c);
    // Writes a snapshot of the store and empties the log.
    std::expected<void, log_error> snapshot_now();

    std::size_t records() const { return records_; }  // records in commands.log
    std::uint64_t last_index() const { return last_index_; }
    std::filesystem::path log_path() const;
    std::filesystem::path snapshot_path() const;

  private:
    command_log(command_log_options options, state_store& store);
    std::expected<void, log_error> append(std::uint64_t index,
                                          std::span<const std::uint8_t> payload);
    std::expected<void, log_error> open_for_append();

    command_log_options options_;
    state_store& store_;
    int fd_ = -1;
    std::uint64_t size_ = 0;  // bytes in commands.log
    std::size_t records_ = 0;
    std::uint64_t last_index_ = 0;  // highest index logged or restored
};

}  // namespace meshfed::rpc
