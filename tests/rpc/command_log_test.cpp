// Command log (rpc/command_log.hpp): restart keeps data, torn tails are dropped with a warning,
// corrupt middle records and snapshots are reported with file and offset, snapshot + truncate +
// replay.
#include "rpc/command_log.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace meshfed::rpc {
namespace {

namespace fs = std::filesystem;

std::vector<std::uint8_t> read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const fs::path& p, const std::vector<std::uint8_t>& b) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

register_request node_reg(const std::string& name) {
    register_request r;
    r.datacenter = "dc1";
    r.node = name;
    r.address = "10.0.0.1";
    r.service = node_service{};
    r.service->id = "web";
    r.service->service = "web";
    r.service->port = 80;
    return r;
}

class CommandLog : public ::testing::Test {
  protected:
    void SetUp() override {
        std::random_device rd;
        dir_ = fs::temp_directory_path() /
               ("meshfed-cmdlog-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    command_log_options opts(std::size_t snapshot_every = 1000) {
        command_log_options o;
        o.dir = dir_;
        o.sync = true;
        o.snapshot_every = snapshot_every;
        return o;
    }

    // Opens a fresh store from dir_ and commits `names`.
    void write_nodes(const std::vector<std::string>& names, std::size_t snapshot_every = 1000) {
        state_store store;
        auto log = command_log::open(opts(snapshot_every), store);
        ASSERT_TRUE(log) << log.error().message;
        for (const auto& n : names) ASSERT_TRUE((*log)->commit(node_reg(n)));
    }

    fs::path dir_;
};

TEST_F(CommandLog, RestartKeepsData) {
    write_nodes({"a", "b", "c"});
    {
        state_store store;
        recovery_report rep;
        auto log = command_log::open(opts(), store, &rep);
        ASSERT_TRUE(log) << log.error().message;
        EXPECT_EQ(rep.replayed, 3u);
        EXPECT_TRUE(rep.warnings.empty());
        EXPECT_EQ(store.node_count(), 3u);
        EXPECT_EQ(store.last_index(), 3u);
        EXPECT_EQ(store.service_nodes("web").value.size(), 3u);
        // Deregistration is a command too.
        deregister_request d;
        d.node = "b";
        auto idx = (*log)->commit(d);
        ASSERT_TRUE(idx);
        EXPECT_EQ(*idx, 4u);
        // A rejected command is not logged.
        register_request bad;
        EXPECT_FALSE((*log)->commit(bad));
        EXPECT_EQ((*log)->records(), 4u);
    }
    state_store store;
    ASSERT_TRUE(command_log::open(opts(), store));
    EXPECT_EQ(store.node_count(), 2u);
    EXPECT_EQ(store.last_index(), 4u);
    EXPECT_EQ(store.service_count(), 2u);
}

TEST_F(CommandLog, TornTailDroppedWithWarning) {
    write_nodes({"a", "b", "c"});
    const auto path = dir_ / "commands.log";
    auto b = read_all(path);
    const auto full = b.size();
    b.resize(b.size() - 5);  // cut inside the last record's payload
    write_all(path, b);
    {
        state_store store;
        recovery_report rep;
        auto log = command_log::open(opts(), store, &rep);
        ASSERT_TRUE(log) << log.error().message;
        EXPECT_EQ(rep.replayed, 2u);
        ASSERT_EQ(rep.warnings.size(), 1u);
        EXPECT_NE(rep.warnings[0].find("torn final record"), std::string::npos);
        EXPECT_GT(rep.torn_bytes, 0u);
        EXPECT_EQ(store.node_count(), 2u);
        EXPECT_LT(fs::file_size(path), full - 5);  // truncated to the last good record
        // New commits continue after the good prefix.
        auto idx = (*log)->commit(node_reg("d"));
        ASSERT_TRUE(idx);
        EXPECT_EQ(*idx, 3u);
    }
    state_store store;
    recovery_report rep;
    ASSERT_TRUE(command_log::open(opts(), store, &rep));
    EXPECT_TRUE(rep.warnings.empty());
    EXPECT_EQ(store.node_count(), 3u);
}

TEST_F(CommandLog, TornTailHeaderOnly) {
    write_nodes({"a"});
    const auto path = dir_ / "commands.log";
    auto b = read_all(path);
    b.insert(b.end(), {0x00, 0x00, 0x00});  // 3 bytes of a next record header
    write_all(path, b);
    state_store store;
    recovery_report rep;
    ASSERT_TRUE(command_log::open(opts(), store, &rep));
    EXPECT_EQ(rep.warnings.size(), 1u);
    EXPECT_EQ(rep.torn_bytes, 3u);
    EXPECT_EQ(store.node_count(), 1u);
}

TEST_F(CommandLog, TornTailBadCrcAtEndDropped) {
    write_nodes({"a", "b"});
    const auto path = dir_ / "commands.log";
    auto b = read_all(path);
    b.back() ^= 0xff;  // last byte of the last record
    write_all(path, b);
    state_store store;
    recovery_report rep;
    ASSERT_TRUE(command_log::open(opts(), store, &rep));
    ASSERT_EQ(rep.warnings.size(), 1u);
    EXPECT_NE(rep.warnings[0].find("CRC"), std::string::npos);
    EXPECT_EQ(store.node_count(), 1u);
}

TEST_F(CommandLog, CorruptMiddleRecordReportedWithFileAndOffset) {
    write_nodes({"a", "b", "c"});
    const auto path = dir_ / "commands.log";
    auto b = read_all(path);
    b[8 + 16 + 3] ^= 0x55;  // inside the first record's payload (header is 8 bytes)
    write_all(path, b);
    state_store store;
    auto log = command_log::open(opts(), store);
    ASSERT_FALSE(log);
    EXPECT_EQ(log.error().code, log_errc::corrupt_record);
    EXPECT_NE(log.error().message.find(path.string()), std::string::npos);
    EXPECT_NE(log.error().message.find("offset 8"), std::string::npos);
    EXPECT_NE(log.error().message.find("CRC"), std::string::npos);
}

TEST_F(CommandLog, CorruptLengthAndIndexReported) {
    write_nodes({"a", "b"});
    const auto path = dir_ / "commands.log";
    const auto good = read_all(path);
    auto b = good;
    b[8] = 0x7f;  // first record length ~2 GiB: above max_record
    write_all(path, b);
    {
        state_store store;
        auto log = command_log::open(opts(), store);
        ASSERT_FALSE(log);
        EXPECT_NE(log.error().message.find("above the limit"), std::string::npos);
    }
    // Second record's index rewritten to 1 (non-increasing), CRC fixed up to match.
    b = good;
    const std::size_t first_len =
        (std::size_t{b[8]} << 24) | (std::size_t{b[9]} << 16) | (std::size_t{b[10]} << 8) | b[11];
    const std::size_t second = 8 + 16 + first_len;
    b[second + 15] = 1;
    std::vector<std::uint8_t> crc_input(b.begin() + second + 8, b.end());
    const auto crc = crc32_ieee(crc_input);
    for (int i = 0; i < 4; ++i) b[second + 4 + i] = static_cast<std::uint8_t>(crc >> (8 * (3 - i)));
    write_all(path, b);
    state_store store;
    auto log = command_log::open(opts(), store);
    ASSERT_FALSE(log);
    EXPECT_NE(log.error().message.find("index 1 after 1"), std::string::npos);
    EXPECT_NE(log.error().message.find("offset " + std::to_string(second)), std::string::npos);
}

TEST_F(CommandLog, BadLogHeaderReported) {
    fs::create_directories(dir_);
    write_all(dir_ / "commands.log", {'N', 'O', 'T', 'A', 'L', 'O', 'G', '!', 0, 0});
    state_store store;
    auto log = command_log::open(opts(), store);
    ASSERT_FALSE(log);
    EXPECT_EQ(log.error().code, log_errc::bad_header);
}

TEST_F(CommandLog, SnapshotTruncateAndReplay) {
    std::vector<std::string> names;
    for (int i = 0; i < 7; ++i) names.push_back("n" + std::to_string(i));
    write_nodes(names, /*snapshot_every=*/3);
    EXPECT_TRUE(fs::exists(dir_ / "snapshot.bin"));
    EXPECT_FALSE(fs::exists(dir_ / "snapshot.bin.tmp"));
    state_store store;
    recovery_report rep;
    auto log = command_log::open(opts(3), store, &rep);
    ASSERT_TRUE(log) << log.error().message;
    EXPECT_TRUE(rep.had_snapshot);
    EXPECT_EQ(rep.snapshot_index, 6u);
    EXPECT_EQ(rep.replayed, 1u);  // record 7 after the snapshot at 6
    EXPECT_EQ((*log)->records(), 1u);
    EXPECT_EQ(store.node_count(), 7u);
    EXPECT_EQ(store.last_index(), 7u);
    EXPECT_EQ(store.table_index(table::services), 7u);
}

TEST_F(CommandLog, CrashBetweenSnapshotAndTruncationReplaysOnlyNewer) {
    write_nodes({"a", "b", "c"});
    const auto old_log = read_all(dir_ / "commands.log");
    {
        state_store store;
        auto log = command_log::open(opts(), store);
        ASSERT_TRUE(log);
        ASSERT_TRUE((*log)->snapshot_now());
    }
    write_all(dir_ / "commands.log", old_log);  // as if the truncation never happened
    state_store store;
    recovery_report rep;
    ASSERT_TRUE(command_log::open(opts(), store, &rep));
    EXPECT_EQ(rep.skipped, 3u);
    EXPECT_EQ(rep.replayed, 0u);
    EXPECT_EQ(store.node_count(), 3u);
}

TEST_F(CommandLog, CorruptSnapshotReported) {
    write_nodes({"a"});
    {
        state_store store;
        auto log = command_log::open(opts(), store);
        ASSERT_TRUE(log);
        ASSERT_TRUE((*log)->snapshot_now());
    }
    auto b = read_all(dir_ / "snapshot.bin");
    b[b.size() / 2] ^= 0x01;
    write_all(dir_ / "snapshot.bin", b);
    state_store store;
    auto log = command_log::open(opts(), store);
    ASSERT_FALSE(log);
    EXPECT_EQ(log.error().code, log_errc::corrupt_snapshot);
    EXPECT_NE(log.error().message.find("snapshot.bin"), std::string::npos);
}

TEST(CommandLogCrc, MatchesZlibCheckValue) {
    const std::string v = "123456789";
    EXPECT_EQ(crc32_ieee(std::span(reinterpret_cast<const std::uint8_t*>(v.data()), v.size())),
              0xcbf43926u);
}

}  // namespace
}  // namespace meshfed::rpc
