#include "rpc/endpoints.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <random>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

namespace meshfed::rpc {

namespace {

constexpr std::string_view consul_service = "consul";
constexpr std::string_view serf_check_id = "serfHealth";
constexpr std::string_view serf_check_name = "Serf Health Status";
constexpr std::string_view serf_check_alive_output = "Agent alive and reachable";

std::vector<std::uint8_t> empty_body() {
    return {empty_struct_body};
}

query_meta meta_for(std::uint64_t index) {
    query_meta m;
    m.index = std::max<std::uint64_t>(index, 1);
    m.known_leader = true;
    m.last_contact = std::chrono::nanoseconds(0);
    return m;
}

// go-uuid ParseUUID's checks and texts.
std::string uuid_error(std::string_view id) {
    if (id.size() != 36) return "uuid string is wrong length";
    for (std::size_t i = 0; i < id.size(); ++i) {
        const char c = id[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return "uuid is improperly formatted";
        } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
            return "uuid is improperly formatted";
        }
    }
    return {};
}

bool is_any_address(std::string_view a) {
    return a == "0.0.0.0" || a == "::" || a == "[::]" || a == "0:0:0:0:0:0:0:0";
}

// A top-level field of an opaque msgpack map, if it is a string / bool.
std::optional<std::string> opaque_string(const std::vector<std::uint8_t>& bytes,
                                         std::string_view key) {
    if (bytes.empty()) return std::nullopt;
    msgpack::reader r(bytes);
    auto n = r.read_map_header();
    if (!n) return std::nullopt;
    for (std::uint32_t i = 0; i < *n; ++i) {
        auto k = r.read_str();
        if (!k) return std::nullopt;
        if (*k == key) {
            auto v = r.read_str();
            if (!v) return std::nullopt;
            return std::string(*v);
        }
        if (!r.skip()) return std::nullopt;
    }
    return std::nullopt;
}

bool opaque_bool(const std::vector<std::uint8_t>& bytes, std::string_view key) {
    if (bytes.empty()) return false;
    msgpack::reader r(bytes);
    auto n = r.read_map_header();
    if (!n) return false;
    for (std::uint32_t i = 0; i < *n; ++i) {
        auto k = r.read_str();
        if (!k) return false;
        if (*k == key) {
            auto v = r.read_bool();
            return v && *v;
        }
        if (!r.skip()) return false;
    }
    return false;
}

// The tags a ServiceSpecificRequest filters on (Consul: only with TagFilter; the deprecated
// singular ServiceTag wins when set).
std::vector<std::string> filter_tags(const service_specific_request& req) {
    if (!req.tag_filter) return {};
    if (!req.service_tag.empty()) return {req.service_tag};
    return req.service_tags;
}

struct answer {
    std::uint64_t index = 0;  // QueryMeta.Index of the reply
    std::vector<std::uint8_t> body;
};

template <class Reply>
answer make_answer(Reply&& reply) {
    const auto index = reply.meta.index;
    return {index, encode_to_bytes(reply)};
}

}  // namespace

struct endpoints::impl {
    struct waiter {
        impl* owner = nullptr;
        std::uint64_t id = 0;
        asio::steady_timer timer;
        state_store::watch_id watch = 0;
        std::function<answer()> run;
        reply_fn reply;
        bool done = false;

        explicit waiter(asio::any_io_executor ex) : timer(std::move(ex)) {}
    };

    asio::any_io_executor ex;
    state_store& store;
    endpoints_config cfg;
    commit_fn commit;
    datacenters_fn datacenters;
    forward_fn forward;
    endpoint_stats stats;
    decode_limits limits;
    std::map<std::uint64_t, std::shared_ptr<waiter>> parked;
    std::uint64_t next_waiter = 1;
    std::minstd_rand rng{std::random_device{}()};

    impl(asio::any_io_executor e, state_store& s, endpoints_config c)
        : ex(std::move(e)), store(s), cfg(std::move(c)) {}

    void fail(const reply_fn& reply, std::string text) {
        ++stats.errors;
        reply(std::move(text), empty_body());
    }

    std::expected<std::uint64_t, store_error> do_commit(const command& c) {
        if (commit) return commit(c);
        if (auto v = store.validate(c); !v) return std::unexpected(v.error());
        const auto index = store.last_index() + 1;
        if (auto r = store.apply(index, c); !r) return std::unexpected(r.error());
        return index;
    }

    std::chrono::nanoseconds wait_time(const query_options& opts) {
        auto t = opts.max_query_time;
        if (t > cfg.max_query_time) {
            t = cfg.max_query_time;
        } else if (t <= std::chrono::nanoseconds::zero()) {
            t = cfg.default_query_time;
        }
        const auto jitter_max = t.count() / 16;
        if (jitter_max > 0) {
            std::uniform_int_distribution<std::int64_t> dist(0, jitter_max);
            t += std::chrono::nanoseconds(dist(rng));
        }
        return t;
    }

    // Consul's blockingQuery: answer now unless MinQueryIndex is set and nothing changed yet.
    void query(const query_options& opts, table_mask tables, reply_fn reply,
               std::function<answer()> run) {
        auto first = run();
        const auto min = opts.min_query_index;
        if (min == 0 || first.index != min) {
            reply({}, std::move(first.body));
            return;
        }
        ++stats.parked;
        auto w = std::make_shared<waiter>(ex);
        w->owner = this;
        w->id = next_waiter++;
        w->run = std::move(run);
        w->reply = std::move(reply);
        parked.emplace(w->id, w);
        std::weak_ptr<waiter> weak = w;
        w->timer.expires_after(wait_time(opts));
        w->timer.async_wait([weak](const std::error_code& ec) {
            if (ec == asio::error::operation_aborted) return;
            if (auto s = weak.lock()) s->owner->finish(s, false);
        });
        auto ex_copy = ex;
        w->watch = store.watch(tables, min, [weak, ex_copy] {
            if (auto s = weak.lock()) s->watch = 0;
            asio::post(ex_copy, [weak] {
                if (auto s = weak.lock()) s->owner->finish(s, true);
            });
        });
    }

    void finish(const std::shared_ptr<waiter>& w, bool woken) {
        if (w->done) return;
        w->done = true;
        parked.erase(w->id);
        if (w->watch) store.cancel(w->watch);
        w->watch = 0;
        w->timer.cancel();
        ++(woken ? stats.woken : stats.timed_out);
        auto a = w->run();
        auto reply = std::move(w->reply);
        reply({}, std::move(a.body));
    }

    void cancel_all(bool answer_them) {
        auto all = std::move(parked);
        parked.clear();
        for (auto& [id, w] : all) {
            if (answer_them) {
                parked.emplace(id, w);
                finish(w, false);
            } else {
                w->done = true;
                if (w->watch) store.cancel(w->watch);
                w->watch = 0;
                w->timer.cancel();
            }
        }
    }

    // ---- handlers ----
    void catalog_register(register_request req, reply_fn reply) {
        if (req.node.empty()) return fail(reply, "Must provide node");
        if (req.address.empty() && !req.skip_node_update) {
            return fail(reply, "Must provide address if SkipNodeUpdate is not set");
        }
        if (!req.id.empty()) {
            if (auto e = uuid_error(req.id); !e.empty()) {
                return fail(reply, fmt::format("Bad node ID: {}", e));
            }
        }
        if (req.service) {
            auto& s = *req.service;
            if (s.id.empty() && !s.service.empty()) s.id = s.service;
            if (!s.id.empty() && s.service.empty()) {
                return fail(reply, "Must provide service name with ID");
            }
            if (is_any_address(s.address)) return fail(reply, "Invalid service address");
        }
        if (req.check) {
            req.checks.push_back(std::move(*req.check));
            req.check.reset();
        }
        for (auto& c : req.checks) {
            if (c.node.empty()) c.node = req.node;
            if (c.check_id.empty() && !c.name.empty()) c.check_id = c.name;
        }
        auto r = do_commit(command{std::move(req)});
        if (!r) return fail(reply, r.error().message);
        reply({}, empty_body());
    }

    void catalog_deregister(deregister_request req, reply_fn reply) {
        if (req.node.empty()) return fail(reply, "Must provide node");
        auto r = do_commit(command{std::move(req)});
        if (!r) return fail(reply, r.error().message);
        reply({}, empty_body());
    }

    // Connect-capable instances of `name`: proxies whose destination is `name`, then
    // Connect-native instances of `name` (Consul's "connect" index).
    std::vector<check_service_node> connect_instances(const std::string& name) const {
        std::vector<check_service_node> out;
        const auto lower = ascii_lower(name);
        for (auto& csn : store.service_dump("connect-proxy", true).value) {
            auto dest = opaque_string(csn.service->proxy.bytes, "DestinationServiceName");
            if (dest && ascii_lower(*dest) == lower) out.push_back(std::move(csn));
        }
        for (auto& csn : store.check_service_nodes(name).value) {
            if (opaque_bool(csn.service->connect.bytes, "Native")) out.push_back(std::move(csn));
        }
        return out;
    }

    void catalog_service_nodes(service_specific_request req, reply_fn reply) {
        if (req.service_name.empty() && req.service_address.empty()) {
            return fail(reply, "Must provide service name");
        }
        auto run = [this, req]() -> answer {
            indexed_service_nodes out;
            std::uint64_t index = 0;
            if (req.connect) {
                index = store.max_index(query_tables::health);
                for (const auto& csn : connect_instances(req.service_name)) {
                    out.service_nodes.push_back(to_service_node(*csn.node_, *csn.service));
                }
            } else {
                auto r =
                    store.service_nodes(req.service_name, filter_tags(req), req.service_address);
                index = r.index;
                out.service_nodes = std::move(r.value);
            }
            if (!req.node_meta_filters.empty()) {
                std::erase_if(out.service_nodes, [&](const service_node& s) {
                    return !satisfies_meta(s.node_meta, req.node_meta_filters);
                });
            }
            out.meta = meta_for(index);
            return make_answer(out);
        };
        query(req.options, req.connect ? query_tables::health : query_tables::service_nodes,
              std::move(reply), std::move(run));
    }

    void health_service_nodes(service_specific_request req, reply_fn reply) {
        if (req.service_name.empty()) return fail(reply, "Must provide service name");
        auto run = [this, req]() -> answer {
            indexed_check_service_nodes out;
            std::uint64_t index = store.max_index(query_tables::health);
            if (req.ingress) {
                // Ingress gateways need config entries (not kept here): no instances.
            } else if (req.connect) {
                out.nodes = connect_instances(req.service_name);
            } else {
                auto r = store.check_service_nodes(req.service_name, filter_tags(req));
                index = r.index;
                out.nodes = std::move(r.value);
            }
            if (!req.node_meta_filters.empty()) {
                std::erase_if(out.nodes, [&](const check_service_node& c) {
                    return !satisfies_meta(c.node_->meta, req.node_meta_filters);
                });
            }
            out.meta = meta_for(index);
            return make_answer(out);
        };
        query(req.options, query_tables::health, std::move(reply), std::move(run));
    }
    // FederationState.Apply: writes go to the primary datacenter (Consul forwards them there).
    void federation_state_apply(federation_state_request req, reply_fn reply) {
        const auto& primary = cfg.primary_datacenter;
        if (!primary.empty() && primary != cfg.datacenter) {
            if (!forward) return fail(reply, "No path to datacenter");
            req.datacenter = primary;
            forward(primary, "FederationState.Apply", encode_to_bytes(req), std::move(reply));
            return;
        }
        if (!req.state || req.state->datacenter.empty()) {
            return fail(reply, "invalid request: missing federation state datacenter");
        }
        if (req.op == federation_state_upsert) {
            if (req.state->updated_at.is_zero()) {
                req.state->updated_at = go_time::from(std::chrono::system_clock::now());
            }
        } else if (req.op != federation_state_delete) {
            return fail(reply, fmt::format("Invalid federation state operation: {}", req.op));
        }
        auto r = do_commit(command{std::move(req)});
        if (!r) return fail(reply, r.error().message);
        std::vector<std::uint8_t> out;
        msgpack::writer(out).write_bool(true);
        reply({}, std::move(out));
    }

    void federation_state_get(federation_state_query req, reply_fn reply) {
        auto dc = req.datacenter;
        query(req.options, query_tables::federation_states, std::move(reply), [this, dc] {
            auto r = store.federation_state_get(dc);
            federation_state_response out;
            out.state = std::move(r.value);
            out.meta = meta_for(r.index);
            return make_answer(out);
        });
    }

    void federation_state_list(dc_specific_request req, reply_fn reply) {
        query(req.options, query_tables::federation_states, std::move(reply), [this] {
            auto r = store.federation_state_list();
            indexed_federation_states out;
            out.states = std::move(r.value);
            out.meta = meta_for(r.index);
            return make_answer(out);
        });
    }

    // Only datacenters that have mesh gateways appear (Consul's ListMeshGateways).
    void federation_state_mesh_gateways(dc_specific_request req, reply_fn reply) {
        query(req.options, query_tables::federation_states, std::move(reply), [this] {
            auto r = store.federation_state_list();
            datacenter_indexed_check_service_nodes out;
            for (auto& st : r.value) {
                if (!st.mesh_gateways.empty())
                    out.datacenter_nodes[st.datacenter] = std::move(st.mesh_gateways);
            }
            out.meta = meta_for(r.index);
            return make_answer(out);
        });
    }

    // Wraps a typed handler: decodes the arguments (bounded, unknown fields counted) and answers
    // decode failures with an error text.
    template <class Req, class Fn>
    static handler_fn typed(std::weak_ptr<impl> weak, std::string method, Fn fn) {
        return [weak, method = std::move(method), fn = std::move(fn)](
                   std::span<const std::uint8_t> body, reply_fn reply) {
            auto self = weak.lock();
            if (!self) {
                reply("rpc: endpoints are shut down", empty_body());
                return;
            }
            ++self->stats.calls;
            auto req = decode_from_bytes<Req>(body, self->limits, &self->stats.decode);
            if (!req) {
                ++self->stats.decode_errors;
                self->fail(reply, fmt::format("rpc: cannot decode {} arguments: {}", method,
                                              req.error().message()));
                return;
            }
            fn(*self, std::move(*req), std::move(reply));
        };
    }
};

endpoints::endpoints(asio::any_io_executor ex, state_store& store, endpoints_config cfg)
    : impl_(std::make_shared<impl>(std::move(ex), store, std::move(cfg))) {}

endpoints::~endpoints() {
    impl_->cancel_all(false);
}

void endpoints::set_commit(commit_fn f) {
    impl_->commit = std::move(f);
}
void endpoints::set_datacenters(datacenters_fn f) {
    impl_->datacenters = std::move(f);
}
void endpoints::set_forwarder(forward_fn f) {
    impl_->forward = std::move(f);
}
std::size_t endpoints::parked() const {
    return impl_->parked.size();
}
const endpoint_stats& endpoints::stats() const {
    return impl_->stats;
}
void endpoints::release_parked() {
    impl_->cancel_all(true);
}

void endpoints::register_handlers(handler_registry& registry) {
    std::weak_ptr<impl> weak = impl_;
    using I = impl;

    // Status.* take struct{} / DCSpecificRequest; only the Datacenter matters and routing
    // happened before dispatch, so the arguments are not decoded.
    auto untyped = [weak](auto fn) -> handler_fn {
        return [weak, fn](std::span<const std::uint8_t>, reply_fn reply) {
            auto self = weak.lock();
            if (!self) {
                reply("rpc: endpoints are shut down", empty_body());
                return;
            }
            ++self->stats.calls;
            fn(*self, std::move(reply));
        };
    };
    registry.add("Status.Ping", untyped([](I&, reply_fn reply) { reply({}, empty_body()); }));
    registry.add("Status.Leader", untyped([](I& self, reply_fn reply) {
                     std::vector<std::uint8_t> out;
                     msgpack::writer(out).write_str(self.cfg.rpc_address);
                     reply({}, std::move(out));
                 }));
    registry.add("Status.Peers", untyped([](I& self, reply_fn reply) {
                     std::vector<std::uint8_t> out;
                     msgpack::writer w(out);
                     w.write_array_header(1);
                     w.write_str(self.cfg.rpc_address);
                     reply({}, std::move(out));
                 }));
    registry.add("Catalog.ListDatacenters", untyped([](I& self, reply_fn reply) {
                     std::vector<std::string> dcs;
                     if (self.datacenters) dcs = self.datacenters();
                     if (dcs.empty()) dcs.push_back(self.cfg.datacenter);
                     std::vector<std::uint8_t> out;
                     msgpack::writer w(out);
                     w.write_array_header(static_cast<std::uint32_t>(dcs.size()));
                     for (const auto& dc : dcs) w.write_str(dc);
                     reply({}, std::move(out));
                 }));

    registry.add("Catalog.Register",
                 impl::typed<register_request>(
                     weak, "Catalog.Register", [](I& self, register_request req, reply_fn reply) {
                         self.catalog_register(std::move(req), std::move(reply));
                     }));
    registry.add(
        "Catalog.Deregister",
        impl::typed<deregister_request>(
            weak, "Catalog.Deregister", [](I& self, deregister_request req, reply_fn reply) {
                self.catalog_deregister(std::move(req), std::move(reply));
            }));
    registry.add("Catalog.ListNodes", impl::typed<dc_specific_request>(
                                          weak, "Catalog.ListNodes",
                                          [](I& self, dc_specific_request req, reply_fn reply) {
                                              auto* store = &self.store;
                                              auto filter = req.node_meta_filters;
                                              self.query(req.options, query_tables::list_nodes,
                                                         std::move(reply), [store, filter] {
                                                             auto r = store->list_nodes(filter);
                                                             indexed_nodes out;
                                                             out.nodes = std::move(r.value);
                                                             out.meta = meta_for(r.index);
                                                             return make_answer(out);
                                                         });
                                          }));
    registry.add(
        "Catalog.ListServices",
        impl::typed<dc_specific_request>(
            weak, "Catalog.ListServices", [](I& self, dc_specific_request req, reply_fn reply) {
                auto* store = &self.store;
                auto filter = req.node_meta_filters;
                const auto tables = filter.empty() ? query_tables::list_services
                                                   : query_tables::list_services_filtered;
                self.query(req.options, tables, std::move(reply), [store, filter] {
                    auto r = store->list_services(filter);
                    indexed_services out;
                    out.services = std::move(r.value);
                    out.meta = meta_for(r.index);
                    return make_answer(out);
                });
            }));
    registry.add("Catalog.ServiceNodes",
                 impl::typed<service_specific_request>(
                     weak, "Catalog.ServiceNodes",
                     [](I& self, service_specific_request req, reply_fn reply) {
                         self.catalog_service_nodes(std::move(req), std::move(reply));
                     }));
    registry.add(
        "Catalog.NodeServices",
        impl::typed<node_specific_request>(
            weak, "Catalog.NodeServices", [](I& self, node_specific_request req, reply_fn reply) {
                if (req.node.empty()) return self.fail(reply, "Must provide node");
                auto* store = &self.store;
                auto name = req.node;
                self.query(req.options, query_tables::node_services, std::move(reply),
                           [store, name] {
                               auto r = store->node_services_of(name);
                               indexed_node_services out;
                               out.node_services_ = std::move(r.value);
                               out.meta = meta_for(r.index);
                               return make_answer(out);
                           });
            }));
    registry.add(
        "Health.ServiceNodes",
        impl::typed<service_specific_request>(
            weak, "Health.ServiceNodes", [](I& self, service_specific_request req, reply_fn reply) {
                self.health_service_nodes(std::move(req), std::move(reply));
            }));
    registry.add("FederationState.Apply",
                 impl::typed<federation_state_request>(
                     weak, "FederationState.Apply",
                     [](I& self, federation_state_request req, reply_fn reply) {
                         self.federation_state_apply(std::move(req), std::move(reply));
                     }));
    registry.add(
        "FederationState.Get",
        impl::typed<federation_state_query>(
            weak, "FederationState.Get", [](I& self, federation_state_query req, reply_fn reply) {
                self.federation_state_get(std::move(req), std::move(reply));
            }));
    registry.add(
        "FederationState.List",
        impl::typed<dc_specific_request>(
            weak, "FederationState.List", [](I& self, dc_specific_request req, reply_fn reply) {
                self.federation_state_list(std::move(req), std::move(reply));
            }));
    registry.add("FederationState.ListMeshGateways",
                 impl::typed<dc_specific_request>(
                     weak, "FederationState.ListMeshGateways",
                     [](I& self, dc_specific_request req, reply_fn reply) {
                         self.federation_state_mesh_gateways(std::move(req), std::move(reply));
                     }));
    registry.add(
        "Internal.ServiceDump",
        impl::typed<service_dump_request>(
            weak, "Internal.ServiceDump", [](I& self, service_dump_request req, reply_fn reply) {
                auto* store = &self.store;
                auto kind = req.service_kind;
                const bool use_kind = req.use_service_kind;
                self.query(req.options, query_tables::health, std::move(reply),
                           [store, kind, use_kind] {
                               auto r = store->service_dump(kind, use_kind);
                               indexed_nodes_with_gateways out;
                               out.nodes = std::move(r.value);
                               out.meta = meta_for(r.index);
                               return make_answer(out);
                           });
            }));
}

std::expected<std::uint64_t, store_error> endpoints::register_self(const std::string& node_name,
                                                                   const std::string& address,
                                                                   const std::string& datacenter,
                                                                   std::uint16_t rpc_port,
                                                                   const std::string& node_id) {
    register_request req;
    req.datacenter = datacenter;
    req.node = node_name;
    req.id = node_id;
    req.address = address;
    if (auto existing = impl_->store.node_services_of(node_name).value) {
        req.tagged_addresses = existing->node_->tagged_addresses;
        req.node_meta = existing->node_->meta;
    }
    node_service svc;
    svc.id = std::string(consul_service);
    svc.service = std::string(consul_service);
    svc.port = rpc_port;
    svc.weights_ = weights{1, 1};
    req.service = std::move(svc);
    health_check check;
    check.node = node_name;
    check.check_id = std::string(serf_check_id);
    check.name = std::string(serf_check_name);
    check.status = std::string(health_passing);
    check.output = std::string(serf_check_alive_output);
    req.check = std::move(check);
    req.checks.push_back(std::move(*req.check));
    req.check.reset();
    return impl_->do_commit(command{std::move(req)});
}

}  // namespace meshfed::rpc
