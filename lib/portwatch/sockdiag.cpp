#include "portwatch/sockdiag.hpp"

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/fd.hpp"
#include "engine/portauth-api.h"

namespace portauth::watch {

namespace {

// include/net/tcp_states.h; not in the uapi headers of older distributions.
constexpr int kTcpSynRecv = 3, kTcpTimeWait = 6, kTcpNewSynRecv = 12, kTcpBoundInactive = 13;
// The largest errno the kernel reports (include/linux/err.h MAX_ERRNO).
constexpr int32_t kMaxErrno = 4095;

uint32_t states_for(Proto proto) {
    if (proto == Proto::udp) return ~0u;
    uint32_t states = (1u << (kTcpBoundInactive + 1)) - 1;
    states &= ~((1u << kTcpSynRecv) | (1u << kTcpTimeWait) | (1u << kTcpNewSynRecv));
    states &= ~1u;   // state 0 does not exist
    return states;
}

void put_op(std::vector<uint8_t>& out, uint8_t code, uint8_t yes, uint16_t no) {
    inet_diag_bc_op op{code, yes, no};
    const auto* p = reinterpret_cast<const uint8_t*>(&op);
    out.insert(out.end(), p, p + sizeof op);
}

Fd open_diag_socket() { return Fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)); }

struct Request {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
};

// Appends one netlink attribute (header, payload, padding) to `out`.
void put_attr(std::vector<uint8_t>& out, uint16_t type, const void* payload, size_t len) {
    nlattr a{};
    a.nla_type = type;
    a.nla_len = static_cast<uint16_t>(NLA_HDRLEN + len);
    const size_t at = out.size();
    out.resize(at + NLA_HDRLEN + NLA_ALIGN(len), 0);
    std::memcpy(out.data() + at, &a, sizeof a);
    if (len) std::memcpy(out.data() + at + NLA_HDRLEN, payload, len);
}

// Walks the attributes in [p, p+len): calls fn(type, payload, payload_len)
// for each; false when one overruns the space.
template <class Fn>
bool for_each_attr(const uint8_t* p, size_t len, Fn&& fn) {
    size_t off = 0;
    // Fewer bytes left than a header are ignored, as the kernel's nla_ok() does.
    while (len - off >= NLA_HDRLEN) {
        nlattr a;
        std::memcpy(&a, p + off, sizeof a);
        if (a.nla_len < NLA_HDRLEN || a.nla_len > len - off) return false;
        fn(static_cast<uint16_t>(a.nla_type & NLA_TYPE_MASK), p + off + NLA_HDRLEN, static_cast<size_t>(a.nla_len - NLA_HDRLEN));
        const size_t step = NLA_ALIGN(a.nla_len);
        if (step >= len - off) break;   // the last attribute may be unpadded
        off += step;
    }
    return true;
}

std::optional<Binder> decode_binder_bytes(const uint8_t* value, size_t len) {
    if (len != sizeof(pa_binder)) return std::nullopt;   // another layout (an older portauth's map)
    pa_binder raw{};
    std::memcpy(&raw, value, sizeof raw);
    if (raw.ngroups > PA_MAX_GROUPS) return std::nullopt;
    Binder b;
    b.uid = raw.uid;
    b.gid = raw.gid;
    b.groups.assign(raw.groups, raw.groups + raw.ngroups);
    b.pid = raw.pid;
    b.time_ns = raw.time_ns;
    b.generation = raw.generation;
    return b;
}

// The binder in an INET_DIAG_SK_BPF_STORAGES payload; false when malformed.
bool parse_storages(const uint8_t* p, size_t len, uint32_t binder_map_id, std::optional<Binder>& binder) {
    bool ok = true;
    const bool walked = for_each_attr(p, len, [&](uint16_t type, const uint8_t* stg, size_t stg_len) {
        if (type != SK_DIAG_BPF_STORAGE) return;
        std::optional<uint32_t> map_id;
        const uint8_t* value = nullptr;
        size_t value_len = 0;
        const bool inner = for_each_attr(stg, stg_len, [&](uint16_t t, const uint8_t* q, size_t n) {
            if (t == SK_DIAG_BPF_STORAGE_MAP_ID && n >= sizeof(uint32_t)) {
                uint32_t id;
                std::memcpy(&id, q, sizeof id);
                map_id = id;
            } else if (t == SK_DIAG_BPF_STORAGE_MAP_VALUE) {
                value = q;
                value_len = n;
            }
        });
        if (!inner) {
            ok = false;
            return;
        }
        if (binder_map_id != 0 && map_id == binder_map_id && value) binder = decode_binder_bytes(value, value_len);
    });
    return walked && ok;
}

Status send_request(int fd, uint16_t type, uint16_t flags, const inet_diag_req_v2& req,
                    const std::vector<uint8_t>& bytecode, const std::vector<int>& storage_map_fds = {}) {
    std::vector<uint8_t> attrs;
    if (!bytecode.empty()) put_attr(attrs, INET_DIAG_REQ_BYTECODE, bytecode.data(), bytecode.size());
    if (!storage_map_fds.empty()) {
        std::vector<uint8_t> fds;
        for (int map_fd : storage_map_fds) {
            const uint32_t v = static_cast<uint32_t>(map_fd);
            put_attr(fds, SK_DIAG_BPF_STORAGE_REQ_MAP_FD, &v, sizeof v);
        }
        put_attr(attrs, INET_DIAG_REQ_SK_BPF_STORAGES | NLA_F_NESTED, fds.data(), fds.size());
    }
    std::vector<uint8_t> msg(NLMSG_LENGTH(sizeof req) + attrs.size());
    auto* nlh = reinterpret_cast<nlmsghdr*>(msg.data());
    nlh->nlmsg_len = static_cast<uint32_t>(msg.size());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = flags;
    nlh->nlmsg_seq = 1;
    std::memcpy(NLMSG_DATA(nlh), &req, sizeof req);
    if (!attrs.empty()) std::memcpy(msg.data() + NLMSG_LENGTH(sizeof req), attrs.data(), attrs.size());
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    iovec iov{msg.data(), msg.size()};
    msghdr mh{};
    mh.msg_name = &kernel;
    mh.msg_namelen = sizeof kernel;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (::sendmsg(fd, &mh, 0) < 0) return sys_error("cannot send a sock_diag request");
    return {};
}

}  // namespace

std::vector<PortRange> merge_ranges(std::vector<PortRange> ranges) {
    std::sort(ranges.begin(), ranges.end(), [](auto& a, auto& b) { return a.low < b.low || (a.low == b.low && a.high < b.high); });
    std::vector<PortRange> out;
    for (const auto& r : ranges) {
        if (!out.empty() && static_cast<uint32_t>(r.low) <= static_cast<uint32_t>(out.back().high) + 1)
            out.back().high = std::max(out.back().high, r.high);
        else
            out.push_back(r);
    }
    return out;
}

// Each range is a block of 20 bytes: two port comparisons (8 bytes each: the
// op, then an op whose `no` holds the port) and a jump:
//   S_GE low:  yes -> S_LE,  no -> next block (or reject)
//   S_LE high: yes -> JMP,   no -> next block (or reject)
//   JMP:       always takes `no` -> the end (accept)
// `yes` is a u8, `no` a u16: the long jump to the end must be a `no`. The
// kernel accepts when a jump lands exactly on the end and rejects when it
// lands 4 bytes past it; its audit walks the `yes` path, which visits every op.
std::vector<uint8_t> build_port_filter(const std::vector<PortRange>& ranges) {
    std::vector<uint8_t> out;
    constexpr size_t op = sizeof(inet_diag_bc_op);
    constexpr size_t block = 5 * op;
    const size_t total = block * ranges.size();
    for (size_t i = 0; i < ranges.size(); ++i) {
        const size_t left = total - i * block;   // bytes from this block's S_GE to the end
        const bool last = i + 1 == ranges.size();
        put_op(out, INET_DIAG_BC_S_GE, 2 * op, static_cast<uint16_t>(last ? left + 4 : block));
        put_op(out, 0, 0, ranges[i].low);
        put_op(out, INET_DIAG_BC_S_LE, 2 * op, static_cast<uint16_t>(last ? left - 2 * op + 4 : 3 * op));
        put_op(out, 0, 0, ranges[i].high);
        put_op(out, INET_DIAG_BC_JMP, op, static_cast<uint16_t>(left - 4 * op));
    }
    return out;
}

Result<DiagBatch> parse_inet_diag_reply(std::span<const uint8_t> bytes, Proto proto, uint32_t binder_map_id) {
    DiagBatch batch;
    size_t off = 0;
    while (off < bytes.size()) {
        if (bytes.size() - off < sizeof(nlmsghdr)) return logic_error("sock_diag reply: truncated netlink header");
        nlmsghdr nlh;
        std::memcpy(&nlh, bytes.data() + off, sizeof nlh);
        if (nlh.nlmsg_len < sizeof(nlmsghdr) || nlh.nlmsg_len > bytes.size() - off)
            return logic_error("sock_diag reply: netlink message length " + std::to_string(nlh.nlmsg_len) + " out of bounds");
        const uint8_t* payload = bytes.data() + off + NLMSG_HDRLEN;
        const size_t payload_len = nlh.nlmsg_len - std::min<size_t>(nlh.nlmsg_len, NLMSG_HDRLEN);
        if (nlh.nlmsg_type == NLMSG_DONE || nlh.nlmsg_type == NLMSG_ERROR) {
            // Both start with the kernel's answer: 0, or a negative errno. A
            // dump that fails part way ends in an NLMSG_DONE carrying the
            // error, which must not read as a complete (shorter) dump.
            int32_t code = 0;
            if (payload_len >= sizeof code) std::memcpy(&code, payload, sizeof code);
            else if (nlh.nlmsg_type == NLMSG_ERROR) return logic_error("sock_diag reply: truncated error message");
            if (code == 0 || (code > 0 && nlh.nlmsg_type == NLMSG_DONE)) {   // the end of a dump, or an ACK
                batch.done = true;
                return batch;
            }
            if (code > 0 || code < -kMaxErrno)
                return logic_error("sock_diag reply: error code " + std::to_string(code) + " out of range");
            return Error{-code, nlh.nlmsg_type == NLMSG_DONE ? "sock_diag dump failed" : "sock_diag request refused"};
        }
        if (nlh.nlmsg_type == SOCK_DIAG_BY_FAMILY) {
            if (payload_len < sizeof(inet_diag_msg)) return logic_error("sock_diag reply: truncated inet_diag_msg");
            inet_diag_msg m;
            std::memcpy(&m, payload, sizeof m);
            if (m.idiag_family != AF_INET && m.idiag_family != AF_INET6)
                return logic_error("sock_diag reply: family " + std::to_string(m.idiag_family));
            SocketInfo s;
            s.proto = proto;
            s.family = m.idiag_family;
            if (m.idiag_family == AF_INET) {
                s.addr.family = AF_INET;
                std::memcpy(s.addr.bytes.data(), &m.id.idiag_src[0], 4);
            } else {
                uint8_t raw[16];
                std::memcpy(raw, m.id.idiag_src, 16);
                s.addr = Address::from_v6_bytes(raw);
            }
            s.port = ntohs(m.id.idiag_sport);
            s.uid = m.idiag_uid;
            s.inode = m.idiag_inode;
            s.state = m.idiag_state;
            s.id = m.id;
            const size_t attrs_at = NLMSG_ALIGN(sizeof(inet_diag_msg));
            if (payload_len > attrs_at) {
                bool ok = true;
                const bool walked = for_each_attr(payload + attrs_at, payload_len - attrs_at,
                                                  [&](uint16_t type, const uint8_t* p, size_t n) {
                                                      if (type == INET_DIAG_SK_BPF_STORAGES && ok)
                                                          ok = parse_storages(p, n, binder_map_id, s.binder);
                                                      else if (type == INET_DIAG_SKV6ONLY && n >= 1)
                                                          s.v6only = p[0] != 0;
                                                  });
                if (!walked || !ok) return logic_error("sock_diag reply: malformed attribute after inet_diag_msg");
            }
            batch.sockets.push_back(std::move(s));
        }
        // Other types (NLMSG_NOOP, overrun notices) carry nothing for us.
        const size_t step = NLMSG_ALIGN(nlh.nlmsg_len);
        if (step > bytes.size() - off) break;   // the last message may be unpadded
        off += step;
    }
    return batch;
}

std::optional<Binder> decode_binder(std::span<const uint8_t> value) { return decode_binder_bytes(value.data(), value.size()); }

std::vector<uint8_t> encode_binder_storage(const Binder& b, uint32_t map_id) {
    pa_binder raw{};
    raw.time_ns = b.time_ns;
    raw.pid = b.pid;
    raw.uid = b.uid;
    raw.gid = b.gid;
    raw.ngroups = static_cast<uint32_t>(std::min<size_t>(b.groups.size(), PA_MAX_GROUPS));
    std::copy_n(b.groups.begin(), raw.ngroups, raw.groups);
    raw.generation = b.generation;
    std::vector<uint8_t> inner, storage, out;
    put_attr(inner, SK_DIAG_BPF_STORAGE_MAP_ID, &map_id, sizeof map_id);
    put_attr(inner, SK_DIAG_BPF_STORAGE_MAP_VALUE, &raw, sizeof raw);
    put_attr(storage, SK_DIAG_BPF_STORAGE | NLA_F_NESTED, inner.data(), inner.size());
    put_attr(out, INET_DIAG_SK_BPF_STORAGES | NLA_F_NESTED, storage.data(), storage.size());
    return out;
}

Result<std::vector<SocketInfo>> dump_sockets(Proto proto, const std::vector<PortRange>& ranges_in,
                                             const StorageRequest& storage) {
    auto ranges = merge_ranges(ranges_in);
    std::vector<uint8_t> bytecode;
    if (!ranges.empty() && ranges.size() <= kMaxFilterRanges) bytecode = build_port_filter(ranges);
    std::vector<SocketInfo> out;
    for (int family : {AF_INET, AF_INET6}) {
        Fd fd = open_diag_socket();
        if (!fd) return sys_error("cannot open a NETLINK_SOCK_DIAG socket");
        inet_diag_req_v2 req{};
        req.sdiag_family = static_cast<uint8_t>(family);
        req.sdiag_protocol = static_cast<uint8_t>(proto);
        req.idiag_states = states_for(proto);
        PA_TRY(send_request(fd.get(), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, req, bytecode, storage.map_fds));
        std::vector<uint8_t> buf(256 * 1024);
        for (bool done = false; !done;) {
            ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
            if (n < 0) {
                if (errno == EINTR) continue;
                return sys_error(std::string("cannot read the ") + proto_name(proto) + " socket dump");
            }
            if (n == 0) break;
            auto batch = parse_inet_diag_reply(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)), proto,
                                               storage.binder_map_id);
            if (!batch) {
                // No IPv6 or no udp_diag in this kernel: nothing of that kind to scan.
                if (batch.error().err == ENOENT || batch.error().err == EAFNOSUPPORT) break;
                return batch.error();
            }
            done = batch->done;
            for (auto& s : batch->sockets) {
                if (!ranges.empty() && !std::any_of(ranges.begin(), ranges.end(), [&](const PortRange& r) { return s.port >= r.low && s.port <= r.high; }))
                    continue;
                out.push_back(std::move(s));
            }
            if (out.size() > kMaxSockets) return logic_error("more than " + std::to_string(kMaxSockets) + " sockets in the dump");
        }
    }
    return out;
}

Result<std::vector<SocketInfo>> dump_all(const std::vector<PortRange>& ranges, const StorageRequest& storage) {
    auto tcp = dump_sockets(Proto::tcp, ranges, storage);
    if (!tcp) return tcp.error();
    auto udp = dump_sockets(Proto::udp, ranges, storage);
    if (!udp) return udp.error();
    auto out = std::move(*tcp);
    out.insert(out.end(), udp->begin(), udp->end());
    return out;
}

Status destroy_socket(const SocketInfo& s) {
    Fd fd = open_diag_socket();
    if (!fd) return sys_error("cannot open a NETLINK_SOCK_DIAG socket");
    inet_diag_req_v2 req{};
    req.sdiag_family = static_cast<uint8_t>(s.family);
    req.sdiag_protocol = static_cast<uint8_t>(s.proto);
    req.idiag_states = ~0u;
    req.id = s.id;
    PA_TRY(send_request(fd.get(), SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, req, {}));
    std::vector<uint8_t> buf(8192);
    ssize_t n;
    do n = ::recv(fd.get(), buf.data(), buf.size(), 0);
    while (n < 0 && errno == EINTR);
    const std::string what = std::string("cannot destroy ") + proto_name(s.proto) + " socket " + s.addr.str_bracketed() + ":" +
                             std::to_string(s.port) + " (inode " + std::to_string(s.inode) + ")";
    if (n < 0) return sys_error(what);
    auto r = parse_inet_diag_reply(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)), s.proto);
    if (!r) {
        if (r.error().err == EOPNOTSUPP) return Error{EOPNOTSUPP, what + " (kernel without CONFIG_INET_DIAG_DESTROY?)"};
        return Error{r.error().err, what};
    }
    return {};
}

}  // namespace portauth::watch
