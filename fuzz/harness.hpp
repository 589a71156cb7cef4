// The fuzz targets' bodies, shared by the libFuzzer entry points
// (fuzz/fuzz_*.cpp) and the unit tests that replay fuzz/regressions/** in the
// normal suite (tests/unit/hardening_parsers_test.cpp).
//
// Each check_* function feeds one input to a parser and checks what must hold
// for every input: no crash (the sanitizers watch), and the properties
// below. It returns "" or a description of the broken property; the fuzz
// targets abort on a description, the unit tests fail.
//
// The tree loader's line and name parsers are internal to lib/policy/tree.cpp,
// so byuid lines, leaf names and portauth.conf go through load_policy on a
// private temp tree (owned by the caller: TreeOptions names our uid).
//
// check_sockdiag needs lib/portwatch/sockdiag.cpp linked in (portwatch_lib,
// or the fuzz build's instrumented copy); the other checks do not.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/parse.hpp"
#include "engine/events.hpp"
#include "policy/spec.hpp"
#include "policy/tree.hpp"
#include "portwatch/sockdiag.hpp"

namespace portauth_fuzz {

using namespace portauth;

// A policy dir of our own under /tmp (sticky, root's): byport, byaddr, byuid,
// reserve/tcp, reserve/udp. Each check empties what it wrote before returning.
class ScratchTree {
public:
    static ScratchTree& get() {
        static ScratchTree tree;
        return tree;
    }
    const std::string& dir() const { return dir_; }
    TreeOptions options() const { return TreeOptions{static_cast<uint32_t>(getuid()), static_cast<uint32_t>(getgid())}; }

    // Writes `content` to `rel` (mode 0644), loads the tree, removes `rel`.
    Result<Policy> load_with(const std::string& rel, std::string_view content) {
        const std::string path = dir_ + "/" + rel;
        const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
            std::fprintf(stderr, "fuzz: cannot create %s: %s\n", path.c_str(), std::strerror(errno));
            std::abort();
        }
        fchmod(fd, 0644);   // whatever the umask
        size_t done = 0;
        while (done < content.size()) {
            const ssize_t n = write(fd, content.data() + done, content.size() - done);
            if (n <= 0) std::abort();
            done += static_cast<size_t>(n);
        }
        close(fd);
        auto policy = load_policy(dir_, options());
        unlink(path.c_str());
        return policy;
    }

    ScratchTree(const ScratchTree&) = delete;
    ScratchTree& operator=(const ScratchTree&) = delete;
    ~ScratchTree() {
        for (const char* d : {"reserve/tcp", "reserve/udp", "reserve", "byport", "byaddr", "byuid"})
            rmdir((dir_ + "/" + d).c_str());
        rmdir(dir_.c_str());
    }

private:
    ScratchTree() {
        char templ[] = "/tmp/portauth-fuzz.XXXXXX";
        if (!mkdtemp(templ)) std::abort();
        dir_ = templ;
        chmod(dir_.c_str(), 0755);
        for (const char* d : {"byport", "byaddr", "byuid", "reserve", "reserve/tcp", "reserve/udp"}) {
            const std::string p = dir_ + "/" + d;
            if (mkdir(p.c_str(), 0755) != 0) std::abort();
            chmod(p.c_str(), 0755);
        }
    }
    std::string dir_;
};

// A leaf name the file system can hold as one entry of a directory.
inline bool valid_leaf(std::string_view name) {
    return !name.empty() && name.size() <= 255 && name != "." && name != ".." &&
           name.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
}

inline bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// The error of a refused tree names the file that was refused.
inline std::string names_file(const Error& e, const std::string& path) {
    if (e.what.find(path) != std::string::npos) return "";
    return "the error does not name '" + path + "': " + e.what;
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
    // Properties that involve the tree need a name a file can have; the
    // command line (argv) cannot carry a NUL anyway.
    const bool argv_like = !has_nul(text);

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
        const std::string leaf = rel.substr(std::string("reserve/tcp/").size());
        if (argv_like && valid_leaf(leaf)) {
            auto p = ScratchTree::get().load_with(rel, "");
            if (!p) return "the loader refuses '" + rel + "', which portreserve would create: " + p.error().what;
            if (p->reservations.size() != 1 || p->reservations[0].port_min != r->port_min ||
                p->reservations[0].port_max != r->port_max || p->reservations[0].addr != r->addr)
                return "the loader reads '" + rel + "' as another reservation";
        } else if (argv_like) {
            return "reserve_entry_path gives a name no file can have: " + rel;
        }
    }

    if (auto g = parse_grant_spec(text)) {
        if (g->port == 0) return "grant spec with port 0";
        auto again = parse_grant_spec(format_grant_spec(*g));
        if (!again) return "format_grant_spec output does not parse: " + again.error().what;
        if (again->port != g->port || again->addr != g->addr) return "grant spec does not survive format+parse";
        const std::string rel = grant_entry_path(*g);
        const std::string leaf = rel.substr(rel.find('/') + 1);
        if (argv_like && valid_leaf(leaf)) {
            auto p = ScratchTree::get().load_with(rel, "");
            if (!p) return "the loader refuses '" + rel + "', which portauth allow would create: " + p.error().what;
            const bool same = g->addr ? p->addr_grants.size() == 1 && p->addr_grants[0].port == g->port &&
                                            p->addr_grants[0].addr == *g->addr
                                      : p->port_grants.size() == 1 && p->port_grants[0].port == g->port;
            if (!same) return "the loader reads '" + rel + "' as another grant";
        } else if (argv_like) {
            return "grant_entry_path gives a name no file can have: " + rel;
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

// ---- fuzz_byuid: the content of byuid/1001.
inline std::string check_byuid(std::string_view content) {
    auto& tree = ScratchTree::get();
    auto p = tree.load_with("byuid/1001", content);
    if (!p) return names_file(p.error(), tree.dir() + "/byuid/1001");
    if (p->uid_grants.size() != 1 || p->uid_grants[0].uid != 1001) return "byuid/1001 loaded as another uid";
    for (const auto& line : p->uid_grants[0].lines) {
        if (line.port_min == 0 || line.port_min > line.port_max) return "a byuid line with ports out of order or 0";
        if (line.addrs.low.family != line.addrs.high.family) return "a byuid line mixing families";
        if (std::memcmp(line.addrs.low.bytes.data(), line.addrs.high.bytes.data(), line.addrs.low.length()) > 0)
            return "a byuid line with a backwards address range";
        if (line.origin.line <= 0) return "a byuid line without a line number";
        if (!line.addrs.contains(line.addrs.low) || !line.addrs.contains(line.addrs.high))
            return "a byuid line's range does not contain its own ends";
    }
    return "";
}

// ---- fuzz_leafnames: the first byte picks where the rest goes.
//   0 byport/NAME   1 byaddr/NAME   2 reserve/tcp/NAME   3 reserve/udp/NAME
//   4 byuid/NAME (empty file)   5 NAME in the policy dir   6+ portauth.conf content
inline std::string check_leafnames(std::string_view input) {
    if (input.empty()) return "";
    const unsigned where = static_cast<unsigned char>(input[0]) % 7;
    const auto rest = input.substr(1);
    auto& tree = ScratchTree::get();
    if (where == 6) {
        auto p = tree.load_with("portauth.conf", rest);
        if (!p) return names_file(p.error(), tree.dir() + "/portauth.conf");
        return "";
    }
    if (!valid_leaf(rest)) return "";
    static const char* const dirs[] = {"byport/", "byaddr/", "reserve/tcp/", "reserve/udp/", "byuid/", ""};
    const std::string rel = dirs[where] + std::string(rest);
    if (where == 5 && (rest == "byport" || rest == "byaddr" || rest == "byuid" || rest == "reserve")) return "";
    auto p = tree.load_with(rel, "");
    if (!p) return names_file(p.error(), tree.dir() + "/" + rel);

    if (where == 0) {
        if (p->port_grants.size() != 1) return "byport entry not loaded as one grant";
        const auto port = p->port_grants[0].port;
        if (port == 0) return "byport entry with port 0";
        if ((needs_bang(port) ? "!" : "") + std::to_string(port) != rest) return "a byport name authbind never looks up";
    } else if (where == 1) {
        if (p->addr_grants.size() != 1) return "byaddr entry not loaded as one grant";
        const auto& g = p->addr_grants[0];
        if (g.port == 0) return "byaddr entry with port 0";
        if (rest.starts_with('!') != needs_bang(g.port)) return "byaddr '!' does not match the port";
        // The spelling portauth allow writes for the same grant reads back the same.
        auto again = parse_grant_spec(format_grant_spec(GrantSpec{g.port, g.addr}));
        if (!again || again->port != g.port || again->addr != g.addr) return "byaddr grant does not survive format+parse";
    } else if (where == 2 || where == 3) {
        if (p->reservations.size() != 1) return "reserve entry not loaded as one reservation";
        const auto& r = p->reservations[0];
        if (r.port_min == 0 || r.port_min > r.port_max) return "reservation with ports out of order or 0";
        if (r.proto != (where == 2 ? Proto::tcp : Proto::udp)) return "reservation with the wrong protocol";
        if (reserve_entry_path(ReserveSpec{r.proto, r.port_min, r.port_max, r.addr}) != rel)
            return "reservation not spelled canonically";
    } else if (where == 4) {
        if (p->uid_grants.size() != 1) return "byuid entry not loaded";
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
