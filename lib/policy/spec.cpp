#include "policy/spec.hpp"



#include "common/parse.hpp"
#include "common/text.hpp"

namespace portauth {

namespace {

Error spec_error(std::string_view text, const std::string& what) { return logic_error(quoted(text) + ": " + what); }

Result<Proto> parse_proto(std::string_view whole, std::string_view text) {
    if (text == "tcp") return Proto::tcp;
    if (text == "udp") return Proto::udp;
    return spec_error(whole, "unknown protocol " + quoted(text) + " (tcp or udp)");
}

Result<uint16_t> parse_spec_port(std::string_view whole, std::string_view text) {
    if (text.empty()) return spec_error(whole, "a port number is missing");
    if (auto v = parse_decimal(text, 65535); v && *v == 0)
        return spec_error(whole, "port 0 means \"any free port\" and cannot be granted or reserved; ports are 1-65535");
    auto port = parse_port(text);
    if (!port) return spec_error(whole, quoted(text) + " is not a port number (1-65535)");
    return *port;
}

// "PORT" or "PORTMIN-PORTMAX"
Result<std::pair<uint16_t, uint16_t>> parse_port_range(std::string_view whole, std::string_view text) {
    const auto dash = text.find('-');
    if (dash == std::string_view::npos) {
        auto port = parse_spec_port(whole, text);
        if (!port) return port.error();
        return std::pair{*port, *port};
    }
    auto lo = parse_spec_port(whole, text.substr(0, dash));
    if (!lo) return lo.error();
    auto hi = parse_spec_port(whole, text.substr(dash + 1));
    if (!hi) return hi.error();
    if (*lo > *hi)
        return spec_error(whole, "port range " + std::string(text) + " is backwards (write " + std::to_string(*hi) + "-" +
                                     std::to_string(*lo) + ")");
    return std::pair{*lo, *hi};
}

// The address after '@': dotted IPv4, or IPv6 in [brackets]. An IPv4-mapped
// IPv6 address ([::ffff:1.2.3.4]) becomes the IPv4 address it maps.
Result<Address> parse_spec_address(std::string_view whole, std::string_view text) {
    if (text.empty()) return spec_error(whole, "an address is missing after '@'");
    if (text.front() == '[') {
        if (text.size() < 3 || text.back() != ']') return spec_error(whole, "unbalanced brackets in " + quoted(text));
        const auto inner = text.substr(1, text.size() - 2);
        if (inner.find(':') == std::string_view::npos)
            return spec_error(whole, "brackets are for IPv6 addresses; write " + std::string(inner) + " without them");
        auto a = Address::parse(inner);
        if (!a) return spec_error(whole, quoted(inner) + " is not an IPv6 address");
        return *a;
    }
    if (text.find(':') != std::string_view::npos)
        return spec_error(whole, "IPv6 addresses go in brackets: @[" + std::string(text) + "]");
    if (text.find_first_of("[]") != std::string_view::npos) return spec_error(whole, "unbalanced brackets in " + quoted(text));
    auto a = Address::parse(text);
    if (!a) return spec_error(whole, quoted(text) + " is not an IPv4 address (a.b.c.d) or an IPv6 address in brackets");
    return *a;
}

}  // namespace

std::string format_port_range(uint16_t lo, uint16_t hi) {
    return lo == hi ? std::to_string(lo) : std::to_string(lo) + "-" + std::to_string(hi);
}

Result<ReserveSpec> parse_reserve_spec(std::string_view text) {
    ReserveSpec spec;
    std::string_view rest = text;
    const auto at = rest.find('@');
    if (at != std::string_view::npos) {
        auto addr = parse_spec_address(text, rest.substr(at + 1));
        if (!addr) return addr.error();
        if (addr->is_wildcard())
            return spec_error(text, "a wildcard address reserves nothing in particular; omit @ADDR to reserve on every address");
        spec.addr = *addr;
        rest = rest.substr(0, at);
    }
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos)
        return spec_error(text, "expected PROTO/PORT[-PORT][@ADDR], e.g. udp/5060 or tcp/6000-6099@127.0.0.1");
    auto proto = parse_proto(text, rest.substr(0, slash));
    if (!proto) return proto.error();
    spec.proto = *proto;
    auto ports = parse_port_range(text, rest.substr(slash + 1));
    if (!ports) return ports.error();
    spec.port_min = ports->first;
    spec.port_max = ports->second;
    return spec;
}

std::string format_reserve_spec(const ReserveSpec& spec) {
    std::string out = std::string(proto_name(spec.proto)) + "/" + format_port_range(spec.port_min, spec.port_max);
    if (spec.addr) out += "@" + spec.addr->str_bracketed();
    return out;
}

std::string reserve_entry_path(const ReserveSpec& spec) { return "reserve/" + format_reserve_spec(spec); }

Result<GrantSpec> parse_grant_spec(std::string_view text) {
    if (text.starts_with("tcp/") || text.starts_with("udp/"))
        return spec_error(text, "grants cover tcp and udp alike; write the port without " + quoted(text.substr(0, 4)));
    GrantSpec spec;
    std::string_view port_text = text;
    const auto at = text.find('@');
    if (at != std::string_view::npos) {
        auto addr = parse_spec_address(text, text.substr(at + 1));
        if (!addr) return addr.error();
        spec.addr = *addr;
        port_text = text.substr(0, at);
    }
    if (port_text.find('-') != std::string_view::npos)
        return spec_error(text, "a grant names one port; port ranges are for byuid files and reservations");
    auto port = parse_spec_port(text, port_text);
    if (!port) return port.error();
    spec.port = *port;
    return spec;
}

std::string grant_entry_path(const GrantSpec& spec) {
    const std::string bang = needs_bang(spec.port) ? "!" : "";
    if (!spec.addr) return "byport/" + bang + std::to_string(spec.port);
    return "byaddr/" + bang + spec.addr->str() + "," + std::to_string(spec.port);
}

std::string format_grant_spec(const GrantSpec& spec) {
    std::string out = std::to_string(spec.port);
    if (spec.addr) out += "@" + spec.addr->str_bracketed();
    return out;
}

Result<BindSpec> parse_bind_spec(std::string_view text) {
    BindSpec spec;
    std::string_view rest = text;
    const auto at = rest.find('@');
    if (at != std::string_view::npos) {
        auto addr = parse_spec_address(text, rest.substr(at + 1));
        if (!addr) return addr.error();
        spec.addr = *addr;
        rest = rest.substr(0, at);
    } else {
        spec.addr = Address::any4();
    }
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) return spec_error(text, "expected PROTO/PORT[@ADDR], e.g. tcp/80 or udp/53@[::1]");
    auto proto = parse_proto(text, rest.substr(0, slash));
    if (!proto) return proto.error();
    spec.proto = *proto;
    auto port = parse_spec_port(text, rest.substr(slash + 1));
    if (!port) return port.error();
    spec.port = *port;
    return spec;
}

Principal user_principal(uint32_t uid, UserDatabase& db) {
    return Principal{Principal::Kind::user, uid, user_name_of(uid, db).value_or(std::to_string(uid))};
}

Principal group_principal(uint32_t gid, UserDatabase& db) {
    return Principal{Principal::Kind::group, gid, group_name_of(gid, db).value_or(std::to_string(gid))};
}

Principal user_principal(uint32_t uid) { return user_principal(uid, system_user_database()); }

Principal group_principal(uint32_t gid) { return group_principal(gid, system_user_database()); }

Result<Principal> parse_principal(std::string_view text, UserDatabase& db) {
    const bool is_group = !text.empty() && text.front() == '%';
    const std::string_view body = is_group ? text.substr(1) : text;
    const char* kind = is_group ? "group" : "user";
    if (body.empty()) return spec_error(text, std::string("a ") + kind + " name or number is missing");
    if (body.find('\0') != std::string_view::npos) return spec_error(text, "contains a NUL byte");
    const bool digits = body.find_first_not_of("0123456789") == std::string_view::npos;
    if (digits && !parse_id(body)) return spec_error(text, std::string("not a valid ") + (is_group ? "gid" : "uid") + " (0-4294967294)");

    // common/user_database.hpp's rules: digits are a number unless they are
    // also another user's (group's) name; a name must exist.
    if (is_group) {
        auto g = find_group(body, db);
        if (!g) return g.error();
        return Principal{Principal::Kind::group, g->gid, g->name.empty() ? std::to_string(g->gid) : g->name};
    }
    auto u = find_user(body, db);
    if (!u) return u.error();
    return Principal{Principal::Kind::user, u->uid, u->name.empty() ? std::to_string(u->uid) : u->name};
}

Result<Credentials> judged_credentials(uint32_t uid, UserDatabase& db) {
    auto c = credentials_for(uid, db);
    if (!c) return c.error();
    return Credentials{c->uid, c->gid, c->groups};
}

Result<Principal> parse_principal(std::string_view text) { return parse_principal(text, system_user_database()); }

std::string format_principal(const Principal& p) {
    const bool group = p.kind == Principal::Kind::group;
    const std::string number = std::to_string(p.id);
    const std::string id = std::string(group ? "gid " : "uid ") + number;
    if (p.name.empty() || p.name == number) return id;
    return (group ? "%" : "") + p.name + " (" + id + ")";
}

}  // namespace portauth
