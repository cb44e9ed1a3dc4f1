#include "agent/config/value.hpp"

namespace meshfed::config {

std::string position::to_string() const {
    if (line <= 0) return file;
    std::string out = file;
    out += ':';
    out += std::to_string(line);
    if (column > 0) {
        out += ':';
        out += std::to_string(column);
    }
    return out;
}

const char* value::type_name() const {
    if (is_bool()) return "bool";
    if (is_int() || is_float()) return "number";
    if (is_string()) return "string";
    if (is_array()) return "list";
    if (is_object()) return "object";
    return "null";
}

}  // namespace meshfed::config
