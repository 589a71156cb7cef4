#include "policy/leaf_names.hpp"

#include <optional>
#include <string>

#include "common/parse.hpp"

namespace portauth {

namespace {

// A leading '!' and the rest of the name.
std::pair<bool, std::string_view> split_bang(std::string_view name) {
    const bool bang = !name.empty() && name.front() == '!';
    return {bang, name.substr(bang ? 1 : 0)};
}

// A dotted quad with leading zeros (127.000.0.1). inet_pton refuses it, so
// authbind never looks such a name up; recognised only to name the spelling
// it would look up.
std::optional<Address> parse_padded_v4(std::string_view text) {
    uint32_t value = 0;
    int parts = 0;
    for (;;) {
        const auto dot = text.find('.');
        const auto part = text.substr(0, dot);
        const auto v = parse_decimal(part, 255);
        if (!v || part.size() > 3 || ++parts > 4) return std::nullopt;
        value = value << 8 | static_cast<uint32_t>(*v);
        if (dot == std::string_view::npos) break;
        text = text.substr(dot + 1);
    }
    if (parts != 4) return std::nullopt;
    return Address::v4(value);
}

}  // namespace

Result<PolicyDirEntry> parse_policy_dir_name(std::string_view name) {
    if (name == "byport") return PolicyDirEntry::byport;
    if (name == "byaddr") return PolicyDirEntry::byaddr;
    if (name == "byuid") return PolicyDirEntry::byuid;
    if (name == "reserve") return PolicyDirEntry::reserve;
    if (name == "portauth.conf") return PolicyDirEntry::conf;
    if (name == "README" || name == "README.md") return PolicyDirEntry::readme;
    if (name.starts_with(".portauth-new.")) return logic_error("a temporary file left by an interrupted edit; remove it");
    return logic_error("not a policy entry: the policy dir holds byport, byaddr, byuid, reserve, portauth.conf and README");
}

Result<uint16_t> parse_byport_name(std::string_view name) {
    const auto [bang, digits] = split_bang(name);
    const auto port = parse_port(digits);
    if (!port) return logic_error("not a policy entry: byport holds files named PORT (1-65535), or !PORT for ports 512-1023");
    const std::string canonical = std::string(bang ? "!" : "") + std::to_string(*port);
    if (needs_bang(*port) && !bang)
        return logic_error("ports 512-1023 need the '!' prefix (byport/!" + std::to_string(*port) + "), as in authbind");
    if (!needs_bang(*port) && bang)
        return logic_error("the '!' prefix is only for ports 512-1023, as in authbind (byport/" + std::to_string(*port) + ")");
    if (canonical != name) return logic_error("authbind would never look up this name; rename it byport/" + canonical);
    return *port;
}

Result<ByaddrName> parse_byaddr_name(std::string_view name) {
    const auto [bang, body] = split_bang(name);
    const auto not_entry = [] {
        return logic_error("not a policy entry: byaddr holds files named ADDR,PORT or ADDR4:PORT (with '!' before ports "
                           "512-1023)");
    };
    std::string_view addr_text, port_text;
    char sep;
    if (const auto comma = body.rfind(','); comma != std::string_view::npos) {
        addr_text = body.substr(0, comma);
        port_text = body.substr(comma + 1);
        sep = ',';
    } else if (const auto colon = body.rfind(':'); colon != std::string_view::npos) {
        addr_text = body.substr(0, colon);
        port_text = body.substr(colon + 1);
        sep = ':';
        if (addr_text.find(':') != std::string_view::npos)
            return logic_error("IPv6 entries are named ADDR,PORT; authbind never looks up ADDR:PORT for IPv6");
    } else {
        return not_entry();
    }
    const auto port = parse_port(port_text);
    auto addr = Address::parse(addr_text);
    if (!addr) addr = parse_padded_v4(addr_text);
    if (!port || !addr || addr_text.front() == '[') return not_entry();
    const std::string bang_str = needs_bang(*port) ? "!" : "";
    const std::string port_str = std::to_string(*port);
    if (needs_bang(*port) && !bang)
        return logic_error("ports 512-1023 need the '!' prefix (byaddr/!" + std::string(body) + "), as in authbind");
    if (!needs_bang(*port) && bang)
        return logic_error("the '!' prefix is only for ports 512-1023, as in authbind (byaddr/" + std::string(body) + ")");

    int rank = -1;
    std::string expected;
    const bool written_as_v6 = addr_text.find(':') != std::string_view::npos;
    if (addr->is_v4() && !written_as_v6) {
        if (addr_text == addr->str()) rank = sep == ':' ? 0 : 1;
        expected = "byaddr/" + bang_str + addr->str() + ":" + port_str + " or byaddr/" + bang_str + addr->str() + "," + port_str;
    } else {
        // IPv4-mapped: authbind sees an IPv6 socket address and looks up
        // its IPv6 spellings, after (in portauth's order) the IPv4 ones.
        const Address v6 = addr->is_v4() ? addr->v4_mapped() : *addr;
        const int base = addr->is_v4() ? 2 : 0;
        if (addr_text == v6.str())
            rank = base;
        else if (addr_text == v6.str_uncompressed())
            rank = base + 1;
        expected = "byaddr/" + bang_str + v6.str() + "," + port_str + " or byaddr/" + bang_str + v6.str_uncompressed() + "," +
                   port_str;
    }
    if (rank < 0 || port_text != port_str) return logic_error("authbind would never look up this name; spell it " + expected);
    return ByaddrName{*addr, *port, rank};
}

Result<ByuidName> parse_byuid_name(std::string_view name) {
    const auto [bang, digits] = split_bang(name);
    const auto uid = parse_id(digits);
    if (!uid) return logic_error("not a policy entry: byuid holds files named UID or !UID (UID in decimal)");
    if (std::to_string(*uid) != digits)
        return logic_error("authbind would never look up this name; rename it byuid/" + std::string(bang ? "!" : "") +
                           std::to_string(*uid));
    return ByuidName{*uid, bang};
}

Result<Proto> parse_reserve_dir_name(std::string_view name) {
    if (name == "tcp") return Proto::tcp;
    if (name == "udp") return Proto::udp;
    return logic_error("not a policy entry: reserve holds the directories tcp and udp");
}

Result<ReserveSpec> parse_reserve_name(Proto proto, std::string_view name) {
    const std::string spec_text = std::string(proto_name(proto)) + "/" + std::string(name);
    auto spec = parse_reserve_spec(spec_text);
    if (!spec) return logic_error("not a reservation: " + spec.error().what);
    const std::string canonical = reserve_entry_path(*spec);
    if (canonical != "reserve/" + spec_text) return logic_error("not spelled the way portauth names it; rename it " + canonical);
    return spec;
}

}  // namespace portauth
