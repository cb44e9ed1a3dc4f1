#pragma once
// The RPC method table the server dispatches msgpack-rpc calls to, owned by rpc/.
// A handler gets the request body (msgpack, Consul's encoding) and answers exactly once
// through `reply` — possibly later (blocking queries park until the state changes or their
// wait time ends). An empty error means success; a non-empty one is sent as the net/rpc
// response's Error text with an empty body.
// Threading: handlers are called on the server's executor (the agent's io_context thread)
// and must call `reply` on it. Errors: unknown services/methods get net/rpc's texts.
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace meshfed::rpc {

using reply_fn = std::function<void(std::string error, std::vector<std::uint8_t> body)>;
using handler_fn = std::function<void(std::span<const std::uint8_t> body, reply_fn reply)>;

class handler_registry {
  public:
    void add(std::string method, handler_fn h) { handlers_[std::move(method)] = std::move(h); }
    bool has(std::string_view method) const { return handlers_.contains(std::string(method)); }
    // Calls the handler, or replies with net/rpc's "rpc: can't find service X" /
    // "rpc: can't find method X" / "rpc: service/method request ill-formed: X".
    void dispatch(std::string_view method, std::span<const std::uint8_t> body,
                  reply_fn reply) const;
    std::vector<std::string> methods() const;

  private:
    std::map<std::string, handler_fn, std::less<>> handlers_;
};

}  // namespace meshfed::rpc
