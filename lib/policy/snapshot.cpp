#include "policy/snapshot.hpp"

#include <algorithm>
#include <map>

#include "common/parse.hpp"
#include "common/sha256.hpp"

namespace portauth {

namespace {

constexpr std::string_view kMagic = "portauth-policy 1";

std::string ids(const std::vector<AclEntry>& v) {
    if (v.empty()) return "-";
    std::string out;
    for (const auto& e : v) out += (out.empty() ? "" : ",") + std::to_string(e.id) + ":" + (e.execute ? "1" : "0");
    return out;
}

std::string access_fields(const AccessSpec& a) {
    return std::to_string(a.owner_uid) + " " + std::to_string(a.owner_gid) + " " + (a.owner_x ? "1" : "0") + " " +
           (a.group_x ? "1" : "0") + " " + (a.other_x ? "1" : "0") + " " + (a.has_acl ? "1" : "0") + " " +
           (a.mask_x ? "1" : "0") + " " + ids(a.users) + " " + ids(a.groups);
}

// One record per line, keyed by the entry's file for drift.
struct Record {
    std::string file;
    std::string line;
};

std::vector<Record> records(const Policy& p) {
    std::vector<Record> out;
    out.push_back({"portauth.conf", std::string("root_exempt ") + (p.settings.root_exempt ? "1" : "0")});
    if (!p.authbind_dir.empty()) out.push_back({p.authbind_dir, "authbind " + percent_encode(p.authbind_dir)});
    for (const auto& d : p.disabled)
        out.push_back({d.origin.file, "disabled " + percent_encode(d.origin.file) + " " + std::to_string(d.origin.line) + " " + percent_encode(d.reason)});
    for (const auto& g : p.port_grants)
        out.push_back({g.origin.file, "port " + std::to_string(g.port) + " " + percent_encode(g.origin.file) + " " + access_fields(g.access)});
    for (const auto& g : p.addr_grants)
        out.push_back({g.origin.file, "addr " + g.addr.str() + " " + std::to_string(g.port) + " " + std::to_string(g.rank) + " " +
                                          percent_encode(g.origin.file) + " " + access_fields(g.access)});
    for (const auto& u : p.uid_grants) {
        out.push_back({u.origin.file, "uid " + std::to_string(u.uid) + " " + (u.bang ? "1" : "0") + " " + percent_encode(u.origin.file)});
        for (const auto& l : u.lines)
            out.push_back({u.origin.file, "uidline " + l.addrs.low.str() + " " + l.addrs.high.str() + " " +
                                              std::to_string(l.port_min) + " " + std::to_string(l.port_max) + " " +
                                              percent_encode(l.origin.file) + " " + std::to_string(l.origin.line)});
    }
    for (const auto& r : p.reservations)
        out.push_back({r.origin.file, std::string("resv ") + proto_name(r.proto) + " " + std::to_string(r.port_min) + " " +
                                          std::to_string(r.port_max) + " " + (r.addr ? r.addr->str() : "-") + " " +
                                          percent_encode(r.origin.file) + " " + access_fields(r.access)});
    return out;
}

std::vector<std::string_view> split(std::string_view line) {
    std::vector<std::string_view> f;
    size_t i = 0;
    while (i <= line.size()) {
        const size_t j = std::min(line.find(' ', i), line.size());
        f.push_back(line.substr(i, j - i));
        i = j + 1;
    }
    return f;
}

class Parser {
public:
    Parser(const std::string& what, int line) : what_(what), line_(line) {}
    Error bad(const std::string& why) const { return logic_error(what_ + " line " + std::to_string(line_) + ": " + why); }

    std::optional<uint64_t> num(std::string_view s, uint64_t max) { return parse_decimal(s, max); }
    std::optional<bool> flag(std::string_view s) {
        if (s == "0") return false;
        if (s == "1") return true;
        return std::nullopt;
    }
    std::optional<std::vector<AclEntry>> acl(std::string_view s) {
        std::vector<AclEntry> out;
        if (s == "-") return out;
        size_t i = 0;
        while (i <= s.size()) {
            const size_t j = std::min(s.find(',', i), s.size());
            const std::string_view item = s.substr(i, j - i);
            const size_t colon = item.find(':');
            if (colon == std::string_view::npos) return std::nullopt;
            auto id = parse_id(item.substr(0, colon));
            auto x = flag(item.substr(colon + 1));
            if (!id || !x) return std::nullopt;
            out.push_back({*id, *x});
            i = j + 1;
        }
        return out;
    }
    // Nine fields from `at`.
    std::optional<AccessSpec> access(const std::vector<std::string_view>& f, size_t at) {
        if (f.size() != at + 9) return std::nullopt;
        AccessSpec a;
        auto ou = parse_id(f[at]), og = parse_id(f[at + 1]);
        auto ox = flag(f[at + 2]), gx = flag(f[at + 3]), tx = flag(f[at + 4]), acl_ = flag(f[at + 5]), mx = flag(f[at + 6]);
        auto users = acl(f[at + 7]), groups = acl(f[at + 8]);
        if (!ou || !og || !ox || !gx || !tx || !acl_ || !mx || !users || !groups) return std::nullopt;
        a.owner_uid = *ou, a.owner_gid = *og, a.owner_x = *ox, a.group_x = *gx, a.other_x = *tx;
        a.has_acl = *acl_, a.mask_x = *mx, a.users = std::move(*users), a.groups = std::move(*groups);
        return a;
    }

private:
    const std::string& what_;
    int line_;
};

}  // namespace

std::string percent_encode(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (c > ' ' && c <= '~' && c != '%') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
        }
    }
    return out.empty() ? "%" : out;   // "%" alone: the empty string
}

std::optional<std::string> percent_decode(std::string_view s) {
    if (s == "%") return std::string();
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size()) return std::nullopt;
        auto hex = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        };
        const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

std::string serialize_policy(const Policy& policy) {
    std::string out(kMagic);
    out += '\n';
    for (const auto& r : records(policy)) out += r.line + '\n';
    return out;
}

std::string policy_hash(const Policy& policy) { return sha256_hex(serialize_policy(policy)); }

Result<Policy> parse_policy(std::string_view text, const std::string& what) {
    Policy p;
    size_t pos = 0;
    int n = 0;
    bool magic = false, settings = false;
    while (pos < text.size()) {
        const size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) return logic_error(what + ": the last line is cut short (no newline)");
        const std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        Parser ps(what, ++n);
        if (!magic) {
            if (line != kMagic) return ps.bad("not a portauth policy snapshot (expected '" + std::string(kMagic) + "')");
            magic = true;
            continue;
        }
        const auto f = split(line);
        const std::string_view kind = f[0];
        if (kind == "root_exempt" && f.size() == 2 && ps.flag(f[1])) {
            p.settings.root_exempt = *ps.flag(f[1]);
            settings = true;
        } else if (kind == "authbind" && f.size() == 2 && percent_decode(f[1])) {
            p.authbind_dir = *percent_decode(f[1]);
        } else if (kind == "disabled" && f.size() == 4) {
            auto file = percent_decode(f[1]);
            auto l = ps.num(f[2], INT32_MAX);
            auto reason = percent_decode(f[3]);
            if (!file || !l || !reason) return ps.bad("a bad 'disabled' record");
            p.disabled.push_back({{*file, static_cast<int>(*l)}, *reason});
        } else if (kind == "port" && f.size() == 12) {
            auto port = parse_port(f[1]);
            auto file = percent_decode(f[2]);
            auto a = ps.access(f, 3);
            if (!port || !file || !a) return ps.bad("a bad 'port' record");
            p.port_grants.push_back({*port, *a, {*file, 0}});
        } else if (kind == "addr" && f.size() == 14) {
            auto addr = Address::parse(f[1]);
            auto port = parse_port(f[2]);
            auto rank = ps.num(f[3], 3);
            auto file = percent_decode(f[4]);
            auto a = ps.access(f, 5);
            if (!addr || !port || !rank || !file || !a) return ps.bad("a bad 'addr' record");
            p.addr_grants.push_back({*addr, *port, static_cast<int>(*rank), *a, {*file, 0}});
        } else if (kind == "uid" && f.size() == 4) {
            auto uid = parse_id(f[1]);
            auto bang = ps.flag(f[2]);
            auto file = percent_decode(f[3]);
            if (!uid || !bang || !file) return ps.bad("a bad 'uid' record");
            UidGrantFile u;
            u.uid = *uid, u.bang = *bang, u.origin = {*file, 0};
            p.uid_grants.push_back(std::move(u));
        } else if (kind == "uidline" && f.size() == 7) {
            auto low = Address::parse(f[1]), high = Address::parse(f[2]);
            auto pmin = ps.num(f[3], 65535), pmax = ps.num(f[4], 65535);
            auto file = percent_decode(f[5]);
            auto l = ps.num(f[6], INT32_MAX);
            if (!low || !high || !pmin || !pmax || !file || !l || p.uid_grants.empty() || low->family != high->family ||
                *pmin > *pmax)
                return ps.bad("a bad 'uidline' record");
            p.uid_grants.back().lines.push_back({{*low, *high}, static_cast<uint16_t>(*pmin), static_cast<uint16_t>(*pmax),
                                                 {*file, static_cast<int>(*l)}});
        } else if (kind == "resv" && f.size() == 15) {
            Reservation r;
            if (f[1] == "tcp") r.proto = Proto::tcp;
            else if (f[1] == "udp") r.proto = Proto::udp;
            else return ps.bad("a bad protocol in a 'resv' record");
            auto pmin = parse_port(f[2]), pmax = parse_port(f[3]);
            auto file = percent_decode(f[5]);
            auto a = ps.access(f, 6);
            if (!pmin || !pmax || *pmin > *pmax || !file || !a) return ps.bad("a bad 'resv' record");
            if (f[4] != "-") {
                auto addr = Address::parse(f[4]);
                if (!addr) return ps.bad("a bad address in a 'resv' record");
                r.addr = *addr;
            }
            r.port_min = *pmin, r.port_max = *pmax, r.access = *a, r.origin = {*file, 0};
            p.reservations.push_back(std::move(r));
        } else {
            return ps.bad("an unknown or malformed record");
        }
    }
    if (!magic) return logic_error(what + ": empty, not a portauth policy snapshot");
    if (!settings) return logic_error(what + ": no 'root_exempt' record");
    return p;
}

std::string PolicyDrift::summary() const {
    std::string out;
    auto part = [&](const std::vector<std::string>& v, const char* verb) {
        if (v.empty()) return;
        if (!out.empty()) out += ", ";
        out += std::to_string(v.size()) + (v.size() == 1 ? " entry " : " entries ") + verb + " (";
        constexpr size_t kNamed = 5;
        for (size_t i = 0; i < v.size() && i < kNamed; ++i) out += (i ? ", " : "") + v[i];
        if (v.size() > kNamed) out += ", and " + std::to_string(v.size() - kNamed) + " more";
        out += ")";
    };
    part(added, "added");
    part(removed, "removed");
    part(changed, "changed");
    return out;
}

PolicyDrift policy_drift(const Policy& applied, const Policy& now) {
    auto by_file = [](const Policy& p) {
        std::map<std::string, std::vector<std::string>> m;
        for (auto& r : records(p)) m[r.file].push_back(std::move(r.line));
        for (auto& [file, lines] : m) std::sort(lines.begin(), lines.end());
        return m;
    };
    const auto a = by_file(applied), b = by_file(now);
    PolicyDrift d;
    for (const auto& [file, lines] : a) {
        auto it = b.find(file);
        if (it == b.end()) d.removed.push_back(file);
        else if (it->second != lines) d.changed.push_back(file);
    }
    for (const auto& [file, lines] : b)
        if (!a.count(file)) d.added.push_back(file);
    return d;
}

}  // namespace portauth
