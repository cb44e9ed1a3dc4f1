#pragma once
// A serf instance wired to a fake gossip_host and a virtual clock, recording every callback.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "tests/wan/serf_test_util.hpp"
#include "wan/serf.hpp"

namespace meshfed::wan::serf_testing {

struct recorded_member_event {
    member_event_type type;
    member m;
};

class serf_fixture : public ::testing::Test {
  protected:
    void SetUp() override { make(default_config()); }

    serf_config default_config() {
        serf_config cfg;
        cfg.node_name = "self.dc1";
        cfg.tags = consul_tags("dc1");
        cfg.seed = 1;
        cfg.callbacks.on_member = [this](member_event_type t, const member& m) {
            member_events.push_back({t, m});
        };
        cfg.callbacks.on_user_event = [this](const user_event& e) { user_events.push_back(e); };
        cfg.callbacks.on_query = [this](const query_event& q) { queries.push_back(q); };
        return cfg;
    }

    void make(serf_config cfg) {
        member_events.clear();
        user_events.clear();
        queries.clear();
        host = std::make_unique<fake_host>(make_node("self.dc1", 1, 8302, cfg.tags));
        s = std::make_unique<serf>(std::move(cfg), *host, clock.now);
        s->notify_join(clock.now, host->self_);  // memberlist reports the local node
        member_events.clear();
    }

    // A peer joins through memberlist.
    node add_peer(const std::string& name, std::uint8_t octet,
                  const tag_map& tags = consul_tags()) {
        node n = make_node(name, octet, 8302, tags);
        host->nodes.push_back(n);
        s->notify_join(clock.now, n);
        return n;
    }

    void receive(const bytes& msg) { s->notify_user_msg(clock.now, msg); }

    // Drains every queued serf broadcast.
    std::vector<bytes> drain() {
        std::vector<bytes> all;
        for (int i = 0; i < 100; ++i) {
            auto b = s->get_broadcasts(2, 1400);
            if (b.empty()) break;
            if (i == 0) all = b;
        }
        return all;
    }

    member_status status_of(const std::string& name) {
        auto m = s->find_member(name);
        return m ? m->status : member_status::none;
    }

    virtual_clock clock;
    std::unique_ptr<fake_host> host;
    std::unique_ptr<serf> s;
    std::vector<recorded_member_event> member_events;
    std::vector<user_event> user_events;
    std::vector<query_event> queries;
};

}  // namespace meshfed::wan::serf_testing
