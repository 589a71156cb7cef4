#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "policy/model.hpp"

namespace portauth {

const char* proto_name(Proto p) { return p == Proto::tcp ? "tcp" : "udp"; }

Address Address::v4(uint32_t host_order) {
    Address a;
    a.family = AF_INET;
    const uint32_t n = htonl(host_order);
    std::memcpy(a.bytes.data(), &n, 4);
    return a;
}

Address Address::any4() { return Address{}; }

Address Address::any6() {
    Address a;
    a.family = AF_INET6;
    return a;
}

static bool is_v4_mapped(const uint8_t b[16]) {
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(b, prefix, 12) == 0;
}

Address Address::from_v6_bytes(const uint8_t b[16]) {
    Address a;
    if (is_v4_mapped(b)) {
        a.family = AF_INET;
        std::memcpy(a.bytes.data(), b + 12, 4);
    } else {
        a.family = AF_INET6;
        std::memcpy(a.bytes.data(), b, 16);
    }
    return a;
}

std::optional<Address> Address::parse(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN || text.find('\0') != std::string_view::npos) return std::nullopt;
    char buf[INET6_ADDRSTRLEN];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    uint8_t raw[16];
    if (text.find(':') == std::string_view::npos) {
        if (inet_pton(AF_INET, buf, raw) != 1) return std::nullopt;
        Address a;
        std::memcpy(a.bytes.data(), raw, 4);
        return a;
    }
    if (inet_pton(AF_INET6, buf, raw) != 1) return std::nullopt;
    return from_v6_bytes(raw);
}

bool Address::is_wildcard() const {
    return std::all_of(bytes.begin(), bytes.begin() + static_cast<long>(length()), [](uint8_t b) { return b == 0; });
}

std::string Address::str() const {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(family, bytes.data(), buf, sizeof buf);
    return buf;
}

std::string Address::str_uncompressed() const {
    if (is_v4()) return str();
    std::string out;
    for (int i = 0; i < 8; ++i) {
        char group[8];
        std::snprintf(group, sizeof group, "%s%x", i ? ":" : "", (bytes[2 * i] << 8) | bytes[2 * i + 1]);
        out += group;
    }
    return out;
}

std::string Address::str_bracketed() const { return is_v4() ? str() : "[" + str() + "]"; }

namespace {

// Byte `i` of the network mask of a prefix of `len` bits.
uint8_t mask_byte(size_t i, unsigned len) {
    const unsigned first_bit = static_cast<unsigned>(i) * 8;
    if (len >= first_bit + 8) return 0xff;
    if (len <= first_bit) return 0;
    return static_cast<uint8_t>(0xff << (8 - (len - first_bit)));
}

}  // namespace

Address Address::v4_mapped() const {
    Address m;
    m.family = AF_INET6;
    m.bytes = {};
    m.bytes[10] = m.bytes[11] = 0xff;
    std::memcpy(m.bytes.data() + 12, bytes.data(), 4);
    return m;
}

bool Address::is_network_of_prefix(unsigned prefix_len) const {
    for (size_t i = 0; i < length(); ++i)
        if (bytes[i] & ~mask_byte(i, prefix_len)) return false;
    return true;
}

AddressRange AddressRange::of_prefix(const Address& network, unsigned prefix_len) {
    Address high = network;
    for (size_t i = 0; i < high.length(); ++i) high.bytes[i] |= static_cast<uint8_t>(~mask_byte(i, prefix_len));
    return AddressRange{network, high};
}

bool AddressRange::contains(const Address& a) const {
    if (a.family != low.family) return false;
    const size_t n = a.length();
    return std::memcmp(a.bytes.data(), low.bytes.data(), n) >= 0 && std::memcmp(a.bytes.data(), high.bytes.data(), n) <= 0;
}

std::string Origin::str() const { return line > 0 ? file + ":" + std::to_string(line) : file; }

size_t Policy::rule_count() const {
    size_t n = port_grants.size() + addr_grants.size() + reservations.size();
    for (const auto& f : uid_grants) n += f.lines.size();
    return n;
}

}  // namespace portauth
