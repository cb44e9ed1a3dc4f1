#include "rpc/handler.hpp"

#include "rpc/msgpack_rpc.hpp"

namespace meshfed::rpc {

void handler_registry::dispatch(std::string_view method, std::span<const std::uint8_t> body,
                                reply_fn reply) const {
    if (auto it = handlers_.find(method); it != handlers_.end()) {
        it->second(body, std::move(reply));
        return;
    }
    auto dot = method.rfind('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 == method.size()) {
        reply(error_ill_formed(method), {0x80});
        return;
    }
    std::string_view service = method.substr(0, dot);
    bool known_service = false;
    for (const auto& [name, h] : handlers_) {
        if (std::string_view(name).substr(0, name.rfind('.')) == service) known_service = true;
    }
    reply(known_service ? error_cant_find_method(method) : error_cant_find_service(method), {0x80});
}

std::vector<std::string> handler_registry::methods() const {
    std::vector<std::string> out;
    for (const auto& [name, h] : handlers_) out.push_back(name);
    return out;
}

}  // namespace meshfed::rpc
