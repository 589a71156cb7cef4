#include "portwatch/sockdiag.hpp"

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/fd.hpp"

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

Status send_request(int fd, uint16_t type, uint16_t flags, const inet_diag_req_v2& req,
                    const std::vector<uint8_t>& bytecode) {
    std::vector<uint8_t> msg(NLMSG_LENGTH(sizeof req) + (bytecode.empty() ? 0 : NLA_HDRLEN + NLA_ALIGN(bytecode.size())));
    auto* nlh = reinterpret_cast<nlmsghdr*>(msg.data());
    nlh->nlmsg_len = static_cast<uint32_t>(msg.size());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = flags;
    nlh->nlmsg_seq = 1;
    std::memcpy(NLMSG_DATA(nlh), &req, sizeof req);
    if (!bytecode.empty()) {
        auto* attr = reinterpret_cast<nlattr*>(msg.data() + NLMSG_LENGTH(sizeof req));
        attr->nla_type = INET_DIAG_REQ_BYTECODE;
        attr->nla_len = static_cast<uint16_t>(NLA_HDRLEN + bytecode.size());
        std::memcpy(reinterpret_cast<uint8_t*>(attr) + NLA_HDRLEN, bytecode.data(), bytecode.size());
    }
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

Result<DiagBatch> parse_inet_diag_reply(std::span<const uint8_t> bytes, Proto proto) {
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
            batch.sockets.push_back(s);
        }
        // Other types (NLMSG_NOOP, overrun notices) carry nothing for us.
        const size_t step = NLMSG_ALIGN(nlh.nlmsg_len);
        if (step > bytes.size() - off) break;   // the last message may be unpadded
        off += step;
    }
    return batch;
}

Result<std::vector<SocketInfo>> dump_sockets(Proto proto, const std::vector<PortRange>& ranges_in) {
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
        PA_TRY(send_request(fd.get(), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, req, bytecode));
        std::vector<uint8_t> buf(256 * 1024);
        for (bool done = false; !done;) {
            ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
            if (n < 0) {
                if (errno == EINTR) continue;
                return sys_error(std::string("cannot read the ") + proto_name(proto) + " socket dump");
            }
            if (n == 0) break;
            auto batch = parse_inet_diag_reply(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)), proto);
            if (!batch) {
                // No IPv6 or no udp_diag in this kernel: nothing of that kind to scan.
                if (batch.error().err == ENOENT || batch.error().err == EAFNOSUPPORT) break;
                return batch.error();
            }
            done = batch->done;
            for (auto& s : batch->sockets) {
                if (!ranges.empty() && !std::any_of(ranges.begin(), ranges.end(), [&](const PortRange& r) { return s.port >= r.low && s.port <= r.high; }))
                    continue;
                out.push_back(s);
            }
            if (out.size() > kMaxSockets) return logic_error("more than " + std::to_string(kMaxSockets) + " sockets in the dump");
        }
    }
    return out;
}

Result<std::vector<SocketInfo>> dump_all(const std::vector<PortRange>& ranges) {
    auto tcp = dump_sockets(Proto::tcp, ranges);
    if (!tcp) return tcp.error();
    auto udp = dump_sockets(Proto::udp, ranges);
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
