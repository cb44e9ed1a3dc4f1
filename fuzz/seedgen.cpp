// Writes the seed corpora of the fuzz targets: fuzz/corpus/<target>/<name>, each file one input
// in the layout its target expects (leading option bytes, see each *_fuzz.cpp).
//   meshfed_fuzz_seedgen CAPTURES_DIR CONFIG_FIXTURES_DIR OUT_DIR
// Sources: the real packets in ../shared/interop/captures (udp.tsv / tcp.tsv: hex per datagram
// or TCP segment), what our decoders find inside them (serf messages, tags, push/pull state),
// encoder output shaped like the unit tests' inputs, and tests/config/fixtures.
// Used by fuzz/gen_corpus; the generated files are checked in.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.hpp"
#include "fuzz/wire_modes.hpp"
#include "mesh/client_hello.hpp"
#include "rpc/msgpack_rpc.hpp"
#include "rpc/structs.hpp"
#include "rpc/yamux.hpp"
#include "tests/support/client_hello.hpp"
#include "tests/support/hex.hpp"
#include "wan/serf_messages.hpp"
#include "wan/wanfed.hpp"
#include "wan/wire/crypto.hpp"
#include "wan/wire/framing.hpp"
#include "wan/wire/packet.hpp"
#include "wan/wire/stream.hpp"

namespace fs = std::filesystem;
using namespace meshfed;
using wan::wire::bytes;

namespace {

fs::path out_root;
std::map<std::string, int> counts;

void write_seed(const std::string& target, const std::string& name,
                std::span<const std::uint8_t> b) {
    const fs::path dir = out_root / target;
    fs::create_directories(dir);
    std::ofstream(dir / name, std::ios::binary)
        .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    ++counts[target];
}

bytes cat(std::initializer_list<std::span<const std::uint8_t>> parts) {
    bytes out;
    for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}
bytes prefix(std::initializer_list<std::uint8_t> head, std::span<const std::uint8_t> rest) {
    bytes out(head);
    out.insert(out.end(), rest.begin(), rest.end());
    return out;
}
std::span<const std::uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// A capture's rows: (source port, destination port, bytes). udp.tsv: frame sport dport hex;
// tcp.tsv: frame seq sport dport hex.
struct row {
    std::string sport, dport;
    bytes data;
};
std::vector<row> read_tsv(const fs::path& file) {
    std::vector<row> rows;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        std::vector<std::string> cols;
        std::istringstream ls(line);
        for (std::string c; std::getline(ls, c, '\t');) cols.push_back(c);
        if (cols.size() < 4) continue;
        const std::size_t n = cols.size();
        rows.push_back({cols[n - 3], cols[n - 2], test::from_hex(cols[n - 1])});
    }
    return rows;
}

// The plaintext serf payloads / metas inside decoded memberlist messages, for the serf target.
void harvest_serf(const std::string& origin, const wan::wire::packet_message& m) {
    using namespace wan::wire;
    if (m.type == message_type::user && !m.body.empty()) {
        write_seed("serf_messages", origin + "-user", prefix({0}, m.body));
    } else if (const auto* a = std::get_if<alive>(&m.decoded); a && !a->meta.empty()) {
        write_seed("serf_messages", origin + "-meta", prefix({1}, a->meta));
    }
}

void captures(const fs::path& dir) {
    using namespace wan::wire;
    for (const auto& cap : fs::directory_iterator(dir)) {
        if (!cap.is_directory()) continue;
        const std::string name = cap.path().filename().string();
        const bool labelled = name.find("label") != std::string::npos;
        const std::uint8_t label_bit = labelled ? 0x08 : 0;
        // UDP: every datagram, as sent, for the options it was captured with; plaintext
        // datagrams also as mode 2 (sealed by the target) and inside gateway frames.
        std::set<std::string> seen;
        int i = 0;
        bytes frames;
        for (const auto& r : read_tsv(cap.path() / "udp.tsv")) {
            const std::string id = name + "-udp" + std::to_string(i++);
            if (!seen.insert(std::string(r.data.begin(), r.data.end())).second) continue;
            packet_decode_options po;
            po.label = labelled ? fuzz::capture_label : "";
            po.keys = &fuzz::capture_keyring();
            po.verify_incoming = false;
            wire_stats st;
            auto d = decode_packet(r.data, po, st);
            if (!d) continue;  // a capture we cannot decode is no seed
            const std::uint8_t nesting = 4 << 5;
            if (d->encrypted) {
                write_seed("memberlist_packet", id,
                           prefix({std::uint8_t(nesting | label_bit | 1)}, r.data));
                write_seed("memberlist_packet", id + "-strict",
                           prefix({std::uint8_t(nesting | label_bit | 3)}, r.data));
            } else {
                write_seed("memberlist_packet", id,
                           prefix({std::uint8_t(nesting | label_bit)}, r.data));
                write_seed("memberlist_packet", id + "-sealed",
                           prefix({std::uint8_t(nesting | label_bit | 2)}, r.data));
                if (frames.size() < 2048) {
                    auto f = wan::wanfed::frame_packet(r.data);
                    frames.insert(frames.end(), f.begin(), f.end());
                }
            }
            for (const auto& m : d->messages) harvest_serf(id, m);
        }
        if (!frames.empty()) write_seed("wanfed_frame", name, prefix({0xff, 0xff, 0}, frames));

        // TCP: each direction of each connection concatenated.
        std::map<std::pair<std::string, std::string>, bytes> conns;
        for (const auto& r : read_tsv(cap.path() / "tcp.tsv"))
            conns[{r.sport, r.dport}].insert(conns[{r.sport, r.dport}].end(), r.data.begin(),
                                             r.data.end());
        i = 0;
        for (const auto& [ports, data] : conns) {
            const std::string id = name + "-tcp" + std::to_string(i++);
            // Which side it was: try the listener (label header allowed), then the dialer.
            for (std::uint8_t side : {std::uint8_t{0}, std::uint8_t{0x10}}) {
                stream_decode_options so;
                so.keys = &fuzz::capture_keyring();
                so.verify_incoming = false;
                so.label = labelled ? fuzz::capture_label : "";
                so.accept_label_header = side == 0;
                wire_stats st;
                auto m = decode_stream(data, so, true, st);
                if (!m) continue;
                const std::uint8_t mode = side | label_bit | (m->encrypted ? 1 : 0);
                write_seed("memberlist_stream", id, prefix({mode, 0}, data));
                write_seed("memberlist_stream", id + "-chunked",
                           prefix({mode, 3, 6, 0, 200}, data));
                if (m->encrypted)
                    write_seed("memberlist_stream", id + "-strict",
                               prefix({std::uint8_t(mode | 2), 0}, data));
                if (const auto* pp = std::get_if<wan::wire::push_pull>(&m->body)) {
                    if (!pp->user_state.empty())
                        write_seed("serf_messages", id + "-pushpull", prefix({0}, pp->user_state));
                    for (std::size_t k = 0; k < pp->nodes.size() && k < 2; ++k)
                        if (!pp->nodes[k].meta.empty())
                            write_seed("serf_messages", id + "-meta" + std::to_string(k),
                                       prefix({1}, pp->nodes[k].meta));
                }
                break;
            }
        }
    }
}

// Shaped like tests/wan/wire_fuzz_test.cpp's seeds.
void memberlist_constructed() {
    using namespace wan::wire;
    std::vector<bytes> msgs = {
        encode_message(ping{1, "a", {1, 2, 3, 4}, 7, "b"}),
        encode_message(alive{1, "n", {1, 2, 3, 4}, 9, {1}, {1, 5, 2, 2, 5, 4}}),
        encode_message(ack_resp{3, bytes(20, 0)}),
        encode_message(suspect{2, "n", "m"}),
        encode_message(dead{2, "n", "m"}),
        encode_user_packet(bytes{1, 2, 3})};
    const std::uint8_t nesting = 4 << 5;
    write_seed("memberlist_packet", "compound-lzw-crc",
               prefix({nesting}, *encode_packet(msgs, {.compress = true, .crc = true})));
    write_seed("memberlist_packet", "compound-plain", prefix({nesting}, *encode_packet(msgs, {})));
    write_seed("memberlist_packet", "compound-sealed-label",
               prefix({nesting | 0x08 | 2}, *encode_packet(msgs, {.compress = true, .crc = true})));
    write_seed("memberlist_packet", "encrypted-label",
               prefix({nesting | 0x08 | 3}, *encode_packet(msgs, {.crc = true,
                                                                  .keys = &fuzz::capture_keyring(),
                                                                  .label = fuzz::capture_label})));
    write_seed("memberlist_packet", "encrypted-vsn0",
               prefix({nesting | 1}, *encode_packet(msgs, {.keys = &fuzz::capture_keyring(),
                                                           .encryption_version = 0})));
    // Compress inside compound inside compress: the nesting bound.
    bytes inner = *encode_packet(msgs, {.compress = true});
    std::vector<bytes> outer = {inner, inner};
    write_seed("memberlist_packet", "nested",
               prefix({nesting}, *encode_packet(outer, {.compress = true})));
    for (std::size_t k = 0; k < msgs.size(); ++k)
        write_seed("memberlist_packet", "single" + std::to_string(k), prefix({nesting}, msgs[k]));

    push_pull pp{true,
                 {push_node_state{"n", {1, 2, 3, 4}, 5, {0xff, 0x80}, 1, 0, {1, 5, 2, 2, 5, 4}}},
                 bytes{2, 0x80}};
    const bytes ppm = encode_push_pull(pp);
    write_seed("memberlist_stream", "pushpull-lzw", prefix({0, 0}, *encode_stream(ppm, {})));
    write_seed("memberlist_stream", "pushpull-plain",
               prefix({0, 0}, *encode_stream(ppm, {.compress = false})));
    write_seed("memberlist_stream", "pushpull-sealed",
               prefix({0x08 | 2, 0}, *encode_stream(ppm, {})));
    write_seed("memberlist_stream", "pushpull-encrypted",
               prefix({0x08 | 3, 0}, *encode_stream(ppm, {.keys = &fuzz::capture_keyring(),
                                                          .label = fuzz::capture_label,
                                                          .write_label_header = true})));
    write_seed("memberlist_stream", "user-label",
               prefix({0x08, 0}, *encode_stream(encode_user_stream(bytes{9, 9}),
                                                {.compress = false,
                                                 .label = fuzz::capture_label,
                                                 .write_label_header = true})));
    write_seed("memberlist_stream", "ping",
               prefix({0, 1, 2}, *encode_stream(encode_message(ping{1, "a", {}, 0, ""}),
                                                {.compress = false})));
    write_seed(
        "memberlist_stream", "err",
        prefix({0x10, 0}, *encode_stream(encode_message(err_resp{"boom"}), {.compress = false})));
}

void serf_constructed() {
    using namespace wan;
    auto seed = [](const std::string& n, const bytes& m) {
        write_seed("serf_messages", n, prefix({0}, m));
    };
    seed("leave", encode(msg_leave{7, "node1.dc1", true}));
    seed("join", encode(msg_join{8, "node1.dc1"}));
    msg_push_pull pp;
    pp.ltime = 3;
    pp.status_ltimes = {{"a.dc1", 1}, {"b.dc2", 2}};
    pp.left_members = {"c.dc1"};
    pp.event_ltime = 4;
    pp.events = {user_events_slot{2, {user_event_entry{"deploy", {1, 2}}}}, std::nullopt};
    seed("pushpull", encode(pp));
    seed("user-event", encode(msg_user_event{5, "deploy", {1, 2, 3}, true}));
    msg_query q;
    q.ltime = 9;
    q.id = 77;
    q.addr = {127, 0, 0, 1};
    q.port = 8302;
    q.source_node = "a.dc1";
    q.filters = {encode_filter(node_filter{{"a.dc1", "b.dc2"}}),
                 encode_filter(tag_filter{"role", "^con.*l$"})};
    q.flags = query_flag_ack;
    q.timeout_ns = 5'000'000'000;
    q.name = "_serf_ping";
    seed("query", encode(q));
    seed("query-response", encode(msg_query_response{9, 77, "b.dc2", query_flag_ack, {4}}));
    msg_member mm{
        "b.dc2", {10, 0, 0, 2}, 8302, {{"role", "consul"}, {"dc", "dc2"}}, 1, 1, 5, 4, 2, 5, 4};
    seed("conflict", encode_conflict_response(&mm));
    seed("conflict-nil", encode_conflict_response(nullptr));
    seed("key-request", encode(msg_key_request{bytes(32, 7)}));
    seed(
        "key-response",
        encode(msg_key_response{
            true, "ok", {std::string(fuzz::capture_key_b64)}, std::string(fuzz::capture_key_b64)}));
    seed("relay",
         encode(msg_relay{{10, 0, 0, 3}, 8302, "", "c.dc3", encode(msg_join{8, "x.dc1"})}));
    write_seed("serf_messages", "tags",
               prefix({1}, encode_tags({{"role", "consul"}, {"dc", "dc1"}, {"port", "8300"}})));
    write_seed("serf_messages", "tags-legacy", prefix({1}, as_bytes("consul")));
    write_seed("serf_messages", "filter-node", prefix({2}, encode_filter(node_filter{{"a.dc1"}})));
    write_seed("serf_messages", "filter-tag",
               prefix({2}, encode_filter(tag_filter{"role", "(?i)^CON[a-z]+$"})));
    auto regex = [](const std::string& n, std::string_view expr, std::string_view text) {
        bytes b{3, static_cast<std::uint8_t>(expr.size())};
        b.insert(b.end(), expr.begin(), expr.end());
        b.insert(b.end(), text.begin(), text.end());
        write_seed("serf_messages", n, b);
    };
    regex("regex-class", R"(^[a-z0-9_-]+\.dc[0-9]{1,3}$)", "node-1.dc12");
    regex("regex-alt", R"((?:foo|ba[rz])+?x*\d\s\w\S)", "foobazbar 9 a_b");
    regex("regex-flags", R"((?i)con(?s:.)ul|[[:alpha:]]{2,}|[^\D]\W)", "CONSUL\nx");
}

void yamux_constructed() {
    using namespace rpc::yamux;
    auto hdr = [](frame_type t, std::uint16_t flags, std::uint32_t id, std::uint32_t len) {
        auto e = frame_header{0, t, flags, id, len}.encode();
        return bytes(e.begin(), e.end());
    };
    std::vector<std::uint8_t> req;
    rpc::encode_request(req, "Status.Ping", 1, std::vector<std::uint8_t>{0x80});
    const bytes open = hdr(frame_type::window_update, flag::syn, 1, 0);
    const bytes data =
        cat({hdr(frame_type::data, 0, 1, static_cast<std::uint32_t>(req.size())), req});
    const bytes fin = hdr(frame_type::data, flag::fin, 1, 0);
    const bytes ping = hdr(frame_type::ping, flag::syn, 0, 42);
    const bytes open3 = cat({hdr(frame_type::data, flag::syn, 3, 3), bytes{1, 2, 3}});
    const bytes wnd = hdr(frame_type::window_update, 0, 3, 65536);
    const bytes rst = hdr(frame_type::window_update, flag::rst, 3, 0);
    const bytes away = hdr(frame_type::go_away, 0, 0, 0);
    const std::uint8_t ops[8] = {0, 1, 2, 7, 0, 5, 4, 3};
    auto seed = [&](const std::string& n, std::uint8_t role,
                    std::initializer_list<std::uint8_t> chunks, const bytes& wire) {
        bytes b{role, static_cast<std::uint8_t>(chunks.size())};
        b.insert(b.end(), chunks);
        b.insert(b.end(), std::begin(ops), std::end(ops));
        b.insert(b.end(), wire.begin(), wire.end());
        write_seed("yamux", n, b);
    };
    seed("rpc-stream", 0, {}, cat({open, data, fin}));
    seed("rpc-stream-chunked", 0, {0, 11, 3}, cat({open, data, ping, fin}));
    seed("two-streams", 0, {12, 12, 12, 12, 12, 12, 12},
         cat({open, open3, data, wnd, rst, fin, ping, away}));
    seed("client-side", 1, {},
         cat({hdr(frame_type::window_update, flag::ack, 1, 0),
              hdr(frame_type::data, flag::syn, 2, 0), ping, away}));
}

void msgpack_rpc_constructed() {
    using namespace rpc;
    std::vector<std::uint8_t> reqs;
    encode_request(reqs, "Status.Ping", 1, std::vector<std::uint8_t>{0x80});
    register_request reg;
    reg.datacenter = "dc1";
    reg.node = "web1";
    reg.address = "10.0.0.5";
    reg.node_meta = {{"rack", "r1"}};
    node_service svc;
    svc.id = "web";
    svc.service = "web";
    svc.tags = {"v1"};
    svc.port = 8080;
    reg.service = svc;
    health_check chk;
    chk.node = "web1";
    chk.check_id = "serfHealth";
    chk.status = "passing";
    reg.checks = {chk};
    encode_request(reqs, "Catalog.Register", 2, encode_to_bytes(reg));
    service_specific_request ssr;
    ssr.datacenter = "dc2";
    ssr.service_name = "web";
    ssr.options.allow_stale = true;
    ssr.options.max_query_time = std::chrono::seconds(5);
    encode_request(reqs, "Health.ServiceNodes", 3, encode_to_bytes(ssr));
    dc_specific_request dcr;
    dcr.datacenter = "dc1";
    dcr.node_meta_filters = {{"a", "b"}};
    encode_request(reqs, "Catalog.ListNodes", 4, encode_to_bytes(dcr));
    federation_state_request fsr;
    fsr.datacenter = "dc1";
    fsr.op = "upsert";
    federation_state fs;
    fs.datacenter = "dc2";
    fs.updated_at =
        go_time::from(std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000)));
    fsr.state = fs;
    encode_request(reqs, "FederationState.Apply", 5, encode_to_bytes(fsr));
    encode_request(reqs, "Internal.ServiceDump", 6, encode_to_bytes(service_dump_request{}));
    encode_request(reqs, "Catalog.Deregister", 7,
                   encode_to_bytes(deregister_request{"dc1", "web1", "web", "", "", ""}));
    write_seed("msgpack_rpc", "requests", prefix({0, 0}, reqs));
    write_seed("msgpack_rpc", "requests-chunked", prefix({0, 3, 0, 7, 30}, reqs));

    std::vector<std::uint8_t> resps;
    indexed_nodes in;
    node n;
    n.name = "web1";
    n.address = "10.0.0.5";
    n.datacenter = "dc1";
    in.nodes = {n};
    in.meta.index = 12;
    in.meta.known_leader = true;
    encode_response(resps, "Catalog.ListNodes", 1, "", encode_to_bytes(in));
    encode_error_response(resps, "Catalog.Nope", 2, "rpc: can't find method Catalog.Nope");
    indexed_check_service_nodes csn;
    csn.nodes.push_back(check_service_node{});
    encode_response(resps, "Health.ServiceNodes", 3, "", encode_to_bytes(csn));
    indexed_federation_states ifs;
    ifs.states = {fs};
    encode_response(resps, "FederationState.List", 4, "", encode_to_bytes(ifs));
    write_seed("msgpack_rpc", "responses", prefix({1, 0}, resps));
    write_seed("msgpack_rpc", "responses-chunked", prefix({1, 2, 1, 5}, resps));
}

void client_hello_constructed() {
    const bytes h1 = test::openssl_client_hello(
        "server.dc2.consul", {"consul/rpc-multiplex-yamux", "consul/wan-gossip/packet"});
    const bytes h2 = test::openssl_client_hello("Node1.Server.DC3.Consul.", {});
    const bytes h3 = test::openssl_client_hello("", {"h2", "http/1.1"});
    write_seed("client_hello", "wanfed", prefix({0, 40}, h1));
    write_seed("client_hello", "upper-dot", prefix({1, 0}, h2));
    write_seed("client_hello", "no-sni", prefix({0, 7}, h3));
    // Found by this target: a host name ending in ".." kept a trailing dot (now bad_extension).
    write_seed("client_hello", "regression-sni-trailing-dots",
               prefix({0, 0}, test::openssl_client_hello("server.dc2.consul..", {})));
    // The same hello fragmented into two records.
    const std::size_t len = (std::size_t{h1[3]} << 8) | h1[4];
    const std::size_t at = len / 3;
    bytes frag{22, 3, 1, static_cast<std::uint8_t>(at >> 8), static_cast<std::uint8_t>(at)};
    frag.insert(frag.end(), h1.begin() + 5, h1.begin() + 5 + static_cast<std::ptrdiff_t>(at));
    frag.insert(frag.end(), {22, 3, 1, static_cast<std::uint8_t>((len - at) >> 8),
                             static_cast<std::uint8_t>(len - at)});
    frag.insert(frag.end(), h1.begin() + 5 + static_cast<std::ptrdiff_t>(at), h1.end());
    write_seed("client_hello", "fragmented", prefix({0, 90}, frag));
}

void wanfed_constructed() {
    using namespace wan::wire;
    bytes frames;
    for (const auto& m : {encode_message(ping{1, "a.dc1", {}, 0, "b.dc2"}),
                          *encode_packet(std::vector<bytes>{encode_message(suspect{2, "n", "m"}),
                                                            encode_message(dead{2, "n", "m"})},
                                         {.compress = true, .crc = true})}) {
        auto f = wan::wanfed::frame_packet(m);
        frames.insert(frames.end(), f.begin(), f.end());
    }
    write_seed("wanfed_frame", "frames", prefix({0xff, 0xff, 0}, frames));
    write_seed("wanfed_frame", "frames-chunked", prefix({0x01, 0x00, 3, 1, 4, 9}, frames));
    write_seed("wanfed_frame", "oversized", prefix({0x00, 0x10, 0}, bytes{0x00, 0x00, 0x00, 0x11}));
}

void config_seeds(const fs::path& fixtures) {
    for (const auto& e : fs::recursive_directory_iterator(fixtures)) {
        if (!e.is_regular_file()) continue;
        std::ifstream in(e.path(), std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(in)), {});
        const std::string name =
            e.path().parent_path().filename().string() + "-" + e.path().filename().string();
        // Fixtures whose text is a JSON document serve the JSON target too.
        const auto first = text.find_first_not_of(" \t\r\n");
        const bool json = first != std::string::npos && text[first] == '{';
        write_seed(json ? "config_json" : "config_hcl", name, as_bytes(text));
    }
    // Found by config_hcl: an invalid hex number at the very end of the text was scanned past it.
    write_seed("config_hcl", "regression-hex-at-end",
               as_bytes("i= 0xN10__cxxabiv120__si_class_type_infoEe"));
    write_seed("config_hcl", "agent-server.hcl", as_bytes(R"(node_name = "s1"
datacenter = "dc2"
primary_datacenter = "dc1"
data_dir = "/tmp/meshfed"
server = true
bootstrap_expect = 1
bind_addr = "10.0.0.1"
advertise_addr_wan = "198.18.0.21"
ports { server = 8300 serf_wan = 8302 http = -1 }
encrypt = "rGIPt7bScsbddgm1QvL24tsgJygmi9DQG2xKkVWiAnA="
primary_gateways = ["198.18.0.11:8443"]
primary_gateways_interval = "30s"
connect { enabled = true enable_mesh_gateway_wan_federation = true }
tls { defaults { ca_file = "ca.pem" cert_file = "s.pem" key_file = "s-key.pem" verify_incoming = true } }
gossip_wan { gossip_interval = "200ms" probe_timeout = "500ms" }
retry_join_wan = <<EOT
x
EOT
)"));
    write_seed("config_json", "agent-server.json", as_bytes(R"({
  "node_name": "s1", "datacenter": "dc1", "data_dir": "/tmp/meshfed", "server": true,
  "bootstrap_expect": 1, "ports": {"server": 8300, "serf_wan": 8302, "https": 8501},
  "encrypt": "rGIPt7bScsbddgm1QvL24tsgJygmi9DQG2xKkVWiAnA=", "log_level": "debug",
  "connect": {"enabled": true}, "limits": {"rpc_max_conns_per_client": 100},
  "tls": {"defaults": {"verify_outgoing": true}, "internal_rpc": {"verify_server_hostname": true}},
  "gossip_wan": {"probe_interval": "1s", "retransmit_mult": 4}, "retry_join_wan": ["a", "b"]
})"));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: meshfed_fuzz_seedgen CAPTURES_DIR CONFIG_FIXTURES_DIR OUT_DIR\n";
        return 2;
    }
    out_root = argv[3];
    captures(argv[1]);
    memberlist_constructed();
    serf_constructed();
    yamux_constructed();
    msgpack_rpc_constructed();
    client_hello_constructed();
    wanfed_constructed();
    config_seeds(argv[2]);
    for (const auto& [t, n] : counts) std::cout << t << ": " << n << " seeds\n";
    return 0;
}
