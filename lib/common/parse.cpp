#include "common/parse.hpp"

namespace portauth {

std::optional<uint64_t> parse_decimal(std::string_view text, uint64_t max) {
    if (text.empty() || text.size() > 20) return std::nullopt;
    uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        const uint64_t digit = static_cast<uint64_t>(c - '0');
        if (digit > max || value > (max - digit) / 10) return std::nullopt;
        value = value * 10 + digit;
    }
    return value;
}

std::optional<uint64_t> parse_hex(std::string_view text, uint64_t max) {
    if (text.empty()) return std::nullopt;
    uint64_t value = 0;
    for (char c : text) {
        uint64_t digit = 0;
        if (c >= '0' && c <= '9') digit = static_cast<uint64_t>(c - '0');
        else if (c >= 'a' && c <= 'f') digit = static_cast<uint64_t>(c - 'a') + 10;
        else if (c >= 'A' && c <= 'F') digit = static_cast<uint64_t>(c - 'A') + 10;
        else return std::nullopt;
        if (digit > max || value > (max - digit) / 16) return std::nullopt;
        value = value * 16 + digit;
    }
    return value;
}

std::optional<uint16_t> parse_port(std::string_view text) {
    auto v = parse_decimal(text, 65535);
    if (!v || *v == 0) return std::nullopt;
    return static_cast<uint16_t>(*v);
}

std::optional<uint32_t> parse_id(std::string_view text) {
    auto v = parse_decimal(text, 4294967294ULL);
    if (!v) return std::nullopt;
    return static_cast<uint32_t>(*v);
}

}  // namespace portauth
