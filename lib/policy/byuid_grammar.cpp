#include "policy/byuid_grammar.hpp"

#include <tuple>
#include <utility>

#include "common/parse.hpp"
#include "common/text.hpp"
#include "policy/limits.hpp"
#include "policy/text_lines.hpp"

namespace portauth {

namespace {

// An address as written in a byuid line: anything inet_pton accepts.
Result<Address> parse_line_address(std::string_view text) {
    if (text.empty()) return logic_error("an address is missing");
    if (text.find_first_of("[]") != std::string_view::npos)
        return logic_error(quoted(text) + ": no brackets around addresses in byuid files");
    auto a = Address::parse(text);
    if (!a) return logic_error(quoted(text) + " is not an IPv4 or IPv6 address");
    return *a;
}

Result<uint16_t> parse_line_port(std::string_view text) {
    text = trim_blanks(text);
    if (text.empty()) return logic_error("a port number is missing");
    auto v = parse_decimal(text, 65535);
    if (!v) return logic_error(quoted(text) + " is not a port number (1-65535)");
    if (*v == 0) return logic_error("port 0 is not a port one can be allowed to bind (ports are 1-65535)");
    return static_cast<uint16_t>(*v);
}

// "PORT" or "PORT<range_sep>PORT", blanks allowed around the numbers.
Result<std::pair<uint16_t, uint16_t>> parse_line_ports(std::string_view text, char range_sep) {
    const auto sep = text.find(range_sep);
    if (sep == std::string_view::npos) {
        auto p = parse_line_port(text);
        if (!p) return p.error();
        return std::pair{*p, *p};
    }
    auto lo = parse_line_port(text.substr(0, sep));
    if (!lo) return lo.error();
    auto hi = parse_line_port(text.substr(sep + 1));
    if (!hi) return hi.error();
    if (*lo > *hi)
        return logic_error("port range " + std::to_string(*lo) + "-" + std::to_string(*hi) + " is backwards (write " +
                           std::to_string(*hi) + "-" + std::to_string(*lo) + ")");
    return std::pair{*lo, *hi};
}

// addr/length,PORT[-PORT] and addr4/length:PORT,PORT; `slash` is where the '/' is.
Result<UidGrantLine> parse_prefix_line(std::string_view line, size_t slash) {
    UidGrantLine out;
    const auto addr_text = trim_blanks(line.substr(0, slash));
    const auto rest = line.substr(slash + 1);
    const auto sep = rest.find_first_of(",:");
    if (sep == std::string_view::npos) return logic_error("expected ADDR/LENGTH,PORT[-PORT] or ADDR4/LENGTH:PORT,PORT");
    const auto len_text = trim_blanks(rest.substr(0, sep));
    auto addr = parse_line_address(addr_text);
    if (!addr) return addr.error();
    const bool written_as_v6 = addr_text.find(':') != std::string_view::npos;
    auto len = parse_decimal(len_text, written_as_v6 ? 128 : 32);
    if (!len) return logic_error(quoted(len_text) + " is not a prefix length (0-" + (written_as_v6 ? "128" : "32") + ")");
    if (rest[sep] == ':') {
        if (written_as_v6) return logic_error("the ADDR/LENGTH:PORT,PORT form is for IPv4 only; write ADDR/LENGTH,PORT-PORT");
        const auto ports = rest.substr(sep + 1);
        if (ports.find(',') == std::string_view::npos)
            return logic_error("the ADDR4/LENGTH:PORT,PORT form needs both ports, e.g. 10.0.0.0/8:80,90");
        auto range = parse_line_ports(ports, ',');
        if (!range) return range.error();
        std::tie(out.port_min, out.port_max) = *range;
    } else {
        auto range = parse_line_ports(rest.substr(sep + 1), '-');
        if (!range) return range.error();
        std::tie(out.port_min, out.port_max) = *range;
    }
    auto bits = static_cast<unsigned>(*len);
    // ::ffff:a.b.c.d/LEN is normalised to the IPv4 address; its prefix
    // keeps meaning the same addresses when it covers the ::ffff part.
    if (written_as_v6 && addr->is_v4()) {
        if (bits < 96) return logic_error("address " + std::string(addr_text) + " has bits set beyond /" + std::to_string(bits));
        bits -= 96;
    }
    if (!addr->is_network_of_prefix(bits))
        return logic_error("address " + std::string(addr_text) + " has bits set beyond /" + std::to_string(*len));
    out.addrs = AddressRange::of_prefix(*addr, bits);
    return out;
}

// addrmin[-addrmax],PORT[-PORT]
Result<UidGrantLine> parse_range_line(std::string_view line) {
    UidGrantLine out;
    const auto comma = line.find(',');
    if (comma == std::string_view::npos)
        return logic_error("expected ADDR[-ADDR],PORT[-PORT], ADDR/LENGTH,PORT[-PORT] or ADDR4/LENGTH:PORT,PORT");
    const auto addrs = line.substr(0, comma);
    const auto dash = addrs.find('-');
    const auto low_text = trim_blanks(addrs.substr(0, dash));
    const auto high_text = dash == std::string_view::npos ? low_text : trim_blanks(addrs.substr(dash + 1));
    auto low = parse_line_address(low_text);
    if (!low) return low.error();
    auto high = parse_line_address(high_text);
    if (!high) return high.error();
    const std::string range_text = std::string(low_text) + "-" + std::string(high_text);
    if (low->family != high->family) return logic_error("address range " + range_text + " mixes IPv4 and IPv6");
    // Within one family the order of Address is the order of its bytes.
    if (*high < *low) return logic_error("address range " + range_text + " is backwards");
    auto range = parse_line_ports(line.substr(comma + 1), '-');
    if (!range) return range.error();
    std::tie(out.port_min, out.port_max) = *range;
    out.addrs = AddressRange{*low, *high};
    return out;
}

}  // namespace

Result<UidGrantLine> parse_uid_line(std::string_view line) {
    line = trim_blanks(line);
    const auto slash = line.find('/');
    if (slash != std::string_view::npos) return parse_prefix_line(line, slash);
    return parse_range_line(line);
}

Result<std::vector<UidGrantLine>> parse_uid_file(std::string_view content, const std::string& file_name) {
    auto lines = significant_lines(content, file_name, kMaxUidFileLines);
    if (!lines) return lines.error();
    std::vector<UidGrantLine> out;
    out.reserve(lines->size());
    for (const auto& [number, text] : *lines) {
        auto line = parse_uid_line(text);
        if (!line) return line_error(file_name, number, line.error().what);
        line->origin.line = static_cast<int>(number);
        out.push_back(std::move(*line));
    }
    return out;
}

}  // namespace portauth
