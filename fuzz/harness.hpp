// The fuzz targets' bodies, shared by the libFuzzer entry points
// (fuzz/fuzz_*.cpp) and the unit tests that replay fuzz/regressions/** in the
// normal suite (tests/unit/hardening_parsers_test.cpp).
//
// Each check_* function feeds one input to a parser and checks what must hold
// for every input: no crash (the sanitizers watch), and the properties
// below. It returns "" or a description of the broken property; the fuzz
// targets abort on a description, the unit tests fail.
//
// The policy tree's grammars are pure functions (lib/policy/leaf_names.hpp,
// byuid_grammar.hpp, conf_grammar.hpp): the checks call them directly, with
// no file system in between, on any bytes.
//
// check_sockdiag needs lib/portwatch/sockdiag.cpp linked in (portwatch_lib,
// or the fuzz build's instrumented copy); the other checks do not.
#pragma once

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/parse.hpp"
#include "common/text.hpp"
#include "engine/events.hpp"
#include "policy/byuid_grammar.hpp"
#include "policy/conf_grammar.hpp"
#include "policy/leaf_names.hpp"
#include "policy/limits.hpp"
#include "policy/spec.hpp"
#include "portwatch/sockdiag.hpp"

namespace portauth_fuzz {

using namespace portauth;

// A leaf name the file system can hold as one entry of a directory.
inline bool valid_leaf(std::string_view name) {
    return !name.empty() && name.size() <= 255 && name != "." && name != ".." &&
           name.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
}

inline bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// The error of a refused file names the file (and the line, when it is about one).
inline std::string names_file(const Error& e, const std::string& file_name) {
    if (e.what.starts_with(file_name + ":")) return "";
    return "the error does not name '" + file_name + "': " + e.what;
}

// ---- fuzz_ports: parse_decimal, parse_port, parse_id against a reference.
inline std::optional<uint64_t> reference_decimal(std::string_view text, uint64_t max) {
    // parse.hpp: digits only, nothing else; nullopt past max. The
    // implementation also refuses more than 20 characters (even leading zeros).
    if (text.empty() || text.size() > 20) return std::nullopt;
    unsigned __int128 v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > max) return std::nullopt;
    return static_cast<uint64_t>(v);
}

// Known bug, lib/common/parse.cpp:11: with max < 9, (max - digit) wraps
// around and parse_decimal("1", 0) is 1 (regression: fuzz/regressions/
// fuzz_ports/parse-decimal-max-below-9). No caller passes such a max today.
// Set to false once parse_decimal refuses digit > max.
inline constexpr bool kKnownBugParseDecimalSmallMax = false;

inline std::string check_ports(std::string_view text) {
    for (uint64_t max : {uint64_t{0}, uint64_t{1}, uint64_t{8}, uint64_t{9}, uint64_t{32}, uint64_t{128}, uint64_t{255},
                         uint64_t{65535}, uint64_t{4294967294ULL}, UINT64_MAX - 1, UINT64_MAX}) {
        if (kKnownBugParseDecimalSmallMax && max < 9) continue;
        if (parse_decimal(text, max) != reference_decimal(text, max))
            return "parse_decimal disagrees with the reference for max " + std::to_string(max);
    }
    const auto port = parse_port(text);
    const auto ref = reference_decimal(text, 65535);
    if (port.has_value() != (ref && *ref != 0)) return "parse_port accepts 0 or refuses a port";
    if (port && *port != *ref) return "parse_port returns the wrong value";
    const auto id = parse_id(text);
    const auto ref_id = reference_decimal(text, 4294967294ULL);
    if (id.has_value() != ref_id.has_value() || (id && *id != *ref_id)) return "parse_id disagrees with the reference";
    return "";
}

// ---- fuzz_specs: reserve, grant and bind specs; numeric principals.
inline std::string check_specs(std::string_view text) {
    if (auto r = parse_reserve_spec(text)) {
        if (r->port_min == 0 || r->port_min > r->port_max) return "reserve spec with ports " + format_reserve_spec(*r);
        if (r->addr && r->addr->is_wildcard()) return "reserve spec with a wildcard address";
        auto again = parse_reserve_spec(format_reserve_spec(*r));
        if (!again) return "format_reserve_spec output does not parse: " + again.error().what;
        if (again->proto != r->proto || again->port_min != r->port_min || again->port_max != r->port_max ||
            again->addr != r->addr)
            return "reserve spec does not survive format+parse: " + format_reserve_spec(*r);
        // What `portreserve add` would create, the loader must accept.
        const std::string rel = reserve_entry_path(*r);
        const std::string prefix = std::string("reserve/") + proto_name(r->proto) + "/";
        if (!rel.starts_with(prefix)) return "reserve_entry_path is not under " + prefix + ": " + rel;
        const std::string leaf = rel.substr(prefix.size());
        if (!valid_leaf(leaf)) return "reserve_entry_path gives a name no file can have: " + rel;
        auto named = parse_reserve_name(r->proto, leaf);
        if (!named) return "the loader refuses '" + rel + "', which portreserve would create: " + named.error().what;
        if (named->proto != r->proto || named->port_min != r->port_min || named->port_max != r->port_max ||
            named->addr != r->addr)
            return "the loader reads '" + rel + "' as another reservation";
    }

    if (auto g = parse_grant_spec(text)) {
        if (g->port == 0) return "grant spec with port 0";
        auto again = parse_grant_spec(format_grant_spec(*g));
        if (!again) return "format_grant_spec output does not parse: " + again.error().what;
        if (again->port != g->port || again->addr != g->addr) return "grant spec does not survive format+parse";
        // What `portauth allow` would create, the loader must accept.
        const std::string rel = grant_entry_path(*g);
        const std::string dir = g->addr ? "byaddr/" : "byport/";
        if (!rel.starts_with(dir)) return "grant_entry_path is not under " + dir + ": " + rel;
        const std::string leaf = rel.substr(dir.size());
        if (!valid_leaf(leaf)) return "grant_entry_path gives a name no file can have: " + rel;
        if (g->addr) {
            auto named = parse_byaddr_name(leaf);
            if (!named) return "the loader refuses '" + rel + "', which portauth allow would create: " + named.error().what;
            if (named->port != g->port || named->addr != *g->addr) return "the loader reads '" + rel + "' as another grant";
        } else {
            auto port = parse_byport_name(leaf);
            if (!port) return "the loader refuses '" + rel + "', which portauth allow would create: " + port.error().what;
            if (*port != g->port) return "the loader reads '" + rel + "' as another grant";
        }
    }

    if (auto b = parse_bind_spec(text)) {
        if (b->port == 0) return "bind spec with port 0";
    }

    // Principals: numbers only; names would ask NSS (slow, and not ours).
    const bool group = !text.empty() && text.front() == '%';
    const auto body = text.substr(group ? 1 : 0);
    if (!body.empty() && body.find_first_not_of("0123456789") == std::string_view::npos) {
        auto p = parse_principal(text);
        const auto id = parse_id(body);
        if (static_cast<bool>(p) != id.has_value()) return "parse_principal and parse_id disagree";
        if (p && (p->id != *id || (p->kind == Principal::Kind::group) != group)) return "parse_principal: wrong id or kind";
        if (p && format_principal(*p).empty()) return "format_principal is empty";
    }
    return "";
}

// ---- fuzz_byuid: the content of a byuid file.
inline constexpr const char* kFuzzByuidFile = "/etc/portauth/byuid/1001";

inline std::string check_byuid(std::string_view content) {
    auto lines = parse_uid_file(content, kFuzzByuidFile);
    if (!lines) {
        if (lines.error().err != 0) return "a grammar error with an errno";
        return names_file(lines.error(), kFuzzByuidFile);
    }
    // Each line the file yields is what parse_uid_line makes of that line.
    std::vector<std::string_view> texts;
    for (size_t start = 0; start < content.size();) {
        auto end = content.find('\n', start);
        if (end == std::string_view::npos) end = content.size();
        texts.push_back(content.substr(start, end - start));
        start = end + 1;
    }
    if (texts.size() > kMaxUidFileLines) return "more lines than the limit accepted";
    int previous = 0;
    for (const auto& line : *lines) {
        if (line.port_min == 0 || line.port_min > line.port_max) return "a byuid line with ports out of order or 0";
        if (line.addrs.low.family != line.addrs.high.family) return "a byuid line mixing families";
        if (std::memcmp(line.addrs.low.bytes.data(), line.addrs.high.bytes.data(), line.addrs.low.length()) > 0)
            return "a byuid line with a backwards address range";
        if (line.origin.line <= previous) return "byuid lines without increasing line numbers";
        previous = line.origin.line;
        if (static_cast<size_t>(line.origin.line) > texts.size()) return "a byuid line numbered past the end";
        if (!line.origin.file.empty()) return "a byuid line naming a file (the loader names it)";
        if (!line.addrs.contains(line.addrs.low) || !line.addrs.contains(line.addrs.high))
            return "a byuid line's range does not contain its own ends";
        const auto text = texts[static_cast<size_t>(line.origin.line - 1)];
        if (text.size() > kMaxLineLength || has_nul(text)) return "a line over the limits accepted";
        auto alone = parse_uid_line(text);
        if (!alone || alone->addrs != line.addrs || alone->port_min != line.port_min || alone->port_max != line.port_max)
            return "parse_uid_line reads a line of the file otherwise";
    }
    return "";
}

// ---- fuzz_conf: the content of portauth.conf, against a reference reading.
inline constexpr const char* kFuzzConfFile = "/etc/portauth/portauth.conf";

// docs/policy-tree.md: lines of at most kMaxLineLength characters without NUL;
// blank and '#' lines say nothing; every other line is "root-exempt = yes|no"
// with blanks (space, tab, CR) around the three parts, at most once.
inline std::optional<PolicySettings> reference_conf(std::string_view content) {
    PolicySettings settings;
    bool seen = false;
    for (size_t start = 0; start < content.size();) {
        auto end = content.find('\n', start);
        if (end == std::string_view::npos) end = content.size();
        const auto raw = content.substr(start, end - start);
        start = end + 1;
        if (raw.size() > kMaxLineLength || has_nul(raw)) return std::nullopt;
        const auto line = trim_blanks(raw);
        if (line.empty() || line.front() == '#') continue;
        const auto eq = line.find('=');
        if (eq == std::string_view::npos || trim_blanks(line.substr(0, eq)) != "root-exempt" || seen) return std::nullopt;
        const auto value = trim_blanks(line.substr(eq + 1));
        if (value != "yes" && value != "no") return std::nullopt;
        settings.root_exempt = value == "yes";
        seen = true;
    }
    return settings;
}

inline std::string check_conf(std::string_view content) {
    auto settings = parse_conf(content, kFuzzConfFile);
    const auto reference = reference_conf(content);
    if (settings.ok() != reference.has_value())
        return settings ? "parse_conf accepts what the reference refuses"
                        : "parse_conf refuses what the reference accepts: " + settings.error().what;
    if (!settings) {
        if (settings.error().err != 0) return "a grammar error with an errno";
        return names_file(settings.error(), kFuzzConfFile);
    }
    if (settings->root_exempt != reference->root_exempt) return "parse_conf and the reference disagree on root-exempt";
    return "";
}

// ---- fuzz_leafnames: the first byte picks the parser the rest goes to.
//   0 byport/NAME   1 byaddr/NAME   2 reserve/tcp/NAME   3 reserve/udp/NAME
//   4 byuid/NAME    5 NAME in the policy dir   6+ portauth.conf content (check_conf)
// Any bytes go in; what a parser accepts must be a name a file can have,
// spelled the one way it is looked up.
inline std::string check_leafnames(std::string_view input) {
    if (input.empty()) return "";
    const unsigned where = static_cast<unsigned char>(input[0]) % 7;
    const auto name = input.substr(1);
    if (where == 6) return check_conf(name);

    // A refusal is a sentence, never empty, with no errno (there is no I/O).
    const auto refused = [](const Error& e) -> std::string {
        if (e.what.empty()) return "a refusal without a reason";
        if (e.err != 0) return "a refusal with an errno";
        return "";
    };
    if (where == 0) {
        auto port = parse_byport_name(name);
        if (!port) return refused(port.error());
        if (!valid_leaf(name)) return "a byport name no file can have";
        if (*port == 0) return "byport entry with port 0";
        if ((needs_bang(*port) ? "!" : "") + std::to_string(*port) != name) return "a byport name authbind never looks up";
    } else if (where == 1) {
        auto g = parse_byaddr_name(name);
        if (!g) return refused(g.error());
        if (!valid_leaf(name)) return "a byaddr name no file can have";
        if (g->port == 0) return "byaddr entry with port 0";
        if (g->rank < 0 || g->rank > 3 || (g->rank >= 2 && !g->addr.is_v4())) return "byaddr entry with an impossible rank";
        if (name.starts_with('!') != needs_bang(g->port)) return "byaddr '!' does not match the port";
        // The spelling portauth allow writes for the same grant reads back the same.
        auto again = parse_grant_spec(format_grant_spec(GrantSpec{g->port, g->addr}));
        if (!again || again->port != g->port || again->addr != g->addr) return "byaddr grant does not survive format+parse";
    } else if (where == 2 || where == 3) {
        const Proto proto = where == 2 ? Proto::tcp : Proto::udp;
        auto r = parse_reserve_name(proto, name);
        if (!r) return refused(r.error());
        if (!valid_leaf(name)) return "a reserve name no file can have";
        if (r->port_min == 0 || r->port_min > r->port_max) return "reservation with ports out of order or 0";
        if (r->proto != proto) return "reservation with the wrong protocol";
        if (reserve_entry_path(*r) != std::string("reserve/") + proto_name(proto) + "/" + std::string(name))
            return "reservation not spelled canonically";
    } else if (where == 4) {
        auto u = parse_byuid_name(name);
        if (!u) return refused(u.error());
        if (!valid_leaf(name)) return "a byuid name no file can have";
        if ((u->bang ? "!" : "") + std::to_string(u->uid) != name) return "a byuid name authbind never looks up";
    } else {
        auto entry = parse_policy_dir_name(name);
        if (!entry) return refused(entry.error());
        static constexpr std::string_view kKnown[] = {"byport", "byaddr", "byuid", "reserve", "portauth.conf", "README", "README.md"};
        if (std::find(std::begin(kKnown), std::end(kKnown), name) == std::end(kKnown))
            return "an unknown name in the policy dir accepted";
    }
    return "";
}

// ---- fuzz_events: one ring buffer record.
inline std::string check_events(const uint8_t* data, size_t size) {
    auto e = decode_event(data, size);
    if (!e) return size >= sizeof(pa_event) || !e.error().what.empty() ? "" : "refusal without a reason";
    if (size < sizeof(pa_event)) return "decoded a short record";
    if (e->proto != Proto::tcp && e->proto != Proto::udp) return "decoded an impossible protocol";
    if (!e->addr.is_v4() && e->addr.family != AF_INET6) return "decoded an impossible family";
    if (e->comm.size() > 16 || has_nul(e->comm)) return "comm longer than 16 or with a NUL";
    if (e->kind != RefusalKind::reservation && e->kind != RefusalKind::grant_miss) return "decoded an impossible kind";
    if (e->suppressed == 0 && e->window_start_ns != 0) return "a window start without suppressed refusals";
    (void)e->addr.str();
    return "";
}

// ---- fuzz_sockdiag: one recv() worth of a sock_diag dump reply (parse_inet_diag_reply).
// The map id the fuzzer's binder storage uses (seeds with storage name map 7).
inline constexpr uint32_t kFuzzBinderMapId = 7;

// A reply in the kernel's layout holding `sockets` (and NLMSG_DONE when `done`),
// their binders as storage of map kFuzzBinderMapId: what the parser must read
// back field for field.
inline std::vector<uint8_t> encode_inet_diag_reply(const std::vector<watch::SocketInfo>& sockets, bool done) {
    std::vector<uint8_t> out;
    auto append = [&](uint16_t type, const void* payload, size_t len) {
        nlmsghdr h{};
        h.nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(len));
        h.nlmsg_type = type;
        h.nlmsg_flags = NLM_F_MULTI;
        const size_t at = out.size();
        out.resize(at + NLMSG_SPACE(len));
        std::memcpy(out.data() + at, &h, sizeof h);
        std::memcpy(out.data() + at + NLMSG_HDRLEN, payload, len);
    };
    for (const auto& s : sockets) {
        inet_diag_msg m{};
        m.idiag_family = static_cast<uint8_t>(s.family);
        m.idiag_state = s.state;
        m.id = s.id;
        m.idiag_uid = s.uid;
        m.idiag_inode = static_cast<uint32_t>(s.inode);
        std::vector<uint8_t> payload(sizeof m);
        std::memcpy(payload.data(), &m, sizeof m);
        if (s.binder) {
            const auto storage = watch::encode_binder_storage(*s.binder, kFuzzBinderMapId);
            payload.insert(payload.end(), storage.begin(), storage.end());
        }
        append(SOCK_DIAG_BY_FAMILY, payload.data(), payload.size());
    }
    if (done) {
        const int zero = 0;
        append(NLMSG_DONE, &zero, sizeof zero);
    }
    return out;
}

inline bool same_socket(const watch::SocketInfo& a, const watch::SocketInfo& b) {
    return a.proto == b.proto && a.family == b.family && a.addr == b.addr && a.port == b.port && a.uid == b.uid &&
           a.inode == b.inode && a.state == b.state && std::memcmp(&a.id, &b.id, sizeof a.id) == 0 && a.binder == b.binder;
}

// What must hold for every input: no read past the buffer (ASan), an error
// carries a real errno (or none) and a sentence; the protocol is the caller's
// and changes nothing else; a socket's family is AF_INET or AF_INET6, an
// AF_INET socket's address is IPv4, its port is the kernel's (host order);
// no more sockets than whole messages fit; and the sockets read back the
// same from a reply built of them (nothing read from the wrong offset);
// naming a binder map changes only the binders (a binder has at most
// PA_MAX_GROUPS groups), and binders read back too.
inline std::string check_sockdiag(const uint8_t* data, size_t size) {
    const std::span<const uint8_t> bytes(data, size);
    auto tcp = watch::parse_inet_diag_reply(bytes, Proto::tcp, kFuzzBinderMapId);
    auto udp = watch::parse_inet_diag_reply(bytes, Proto::udp, kFuzzBinderMapId);
    auto unnamed = watch::parse_inet_diag_reply(bytes, Proto::tcp);
    if (static_cast<bool>(tcp) != static_cast<bool>(unnamed)) return "naming a binder map decides whether a reply parses";
    if (tcp) {
        if (unnamed->sockets.size() != tcp->sockets.size()) return "naming a binder map changes the batch";
        for (size_t i = 0; i < tcp->sockets.size(); ++i) {
            auto plain = tcp->sockets[i];
            if (plain.binder && plain.binder->groups.size() > PA_MAX_GROUPS) return "a binder with too many groups";
            plain.binder.reset();
            if (unnamed->sockets[i].binder) return "a binder without a binder map";
            if (!same_socket(plain, unnamed->sockets[i])) return "naming a binder map changes a socket";
        }
    }
    if (static_cast<bool>(tcp) != static_cast<bool>(udp)) return "the protocol decides whether a reply parses";
    if (!tcp) {
        if (tcp.error().what.empty()) return "an error without a sentence";
        if (tcp.error().err < 0 || tcp.error().err > 4095) return "an error with errno " + std::to_string(tcp.error().err);
        if (tcp.error().err != udp.error().err) return "the protocol changes the errno";
        return "";
    }
    if (tcp->done != udp->done || tcp->sockets.size() != udp->sockets.size()) return "the protocol changes the batch";
    if (tcp->sockets.size() > size / (NLMSG_HDRLEN + sizeof(inet_diag_msg))) return "more sockets than messages fit in the reply";
    for (size_t i = 0; i < tcp->sockets.size(); ++i) {
        const auto& s = tcp->sockets[i];
        auto as_udp = udp->sockets[i];
        if (s.proto != Proto::tcp || as_udp.proto != Proto::udp) return "a socket of another protocol than the dump's";
        as_udp.proto = Proto::tcp;
        if (!same_socket(s, as_udp)) return "the protocol changes a socket";
        if (s.family != AF_INET && s.family != AF_INET6) return "a socket of family " + std::to_string(s.family);
        if (s.family == AF_INET && !s.addr.is_v4()) return "an AF_INET socket with an IPv6 address";
        if (s.addr.family != AF_INET && s.addr.family != AF_INET6) return "an address of family " + std::to_string(s.addr.family);
        if (s.port != ntohs(s.id.idiag_sport)) return "the port is not the kernel's source port";
        (void)s.addr.str();
    }
    const auto again = watch::parse_inet_diag_reply(encode_inet_diag_reply(tcp->sockets, tcp->done), Proto::tcp);
    if (!again) return "a reply built from the parsed sockets does not parse: " + again.error().message();
    if (again->done != tcp->done || again->sockets.size() != tcp->sockets.size()) return "the sockets do not read back";
    for (size_t i = 0; i < again->sockets.size(); ++i)
        if (!same_socket(again->sockets[i], tcp->sockets[i])) return "socket " + std::to_string(i) + " does not read back the same";
    return "";
}

inline void die_on(const std::string& problem, const uint8_t* data, size_t size) {
    if (problem.empty()) return;
    std::fprintf(stderr, "fuzz: property broken: %s (input of %zu bytes)\n", problem.c_str(), size);
    (void)data;
    std::abort();
}

}  // namespace portauth_fuzz
