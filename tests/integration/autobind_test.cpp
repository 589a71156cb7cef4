// Automatic port selection - bind(2) to port 0, and the implicit bind of an
// unbound socket's sendto(2), connect(2) or listen(2) - picks a port from
// ip_local_port_range without the cgroup bind hook ever seeing it. What keeps
// a reserved port out of it is ip_local_reserved_ports, which portauth apply
// fills with every reserved port, whatever the range says at the time (a
// sysctl.d file or a package may widen it later). The attacker is uid 52002,
// who owns no reservation and takes every port automatic selection hands out,
// by every route, including a per-socket IP_LOCAL_PORT_RANGE that names only
// reserved ports.
//
// Each test runs in a network namespace of its own: both sysctls belong to
// it, so nothing here touches the host's.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "sandbox.hpp"

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51   // linux/in.h, Linux 6.3
#endif

namespace {

using sandbox::Creds;
using sandbox::Sandbox;

const Creds kOwner{52001, 52001, {}};      // owns the reservations
const Creds kAttacker{52002, 52002, {}};

const char* const kRange = "/proc/sys/net/ipv4/ip_local_port_range";
const char* const kReserved = "/proc/sys/net/ipv4/ip_local_reserved_ports";

// The widened range: 22 ports, three of them reserved. An even number: TCP's
// search (inet_csk_find_open_port) rounds an odd-sized range down to even and
// may then never look at one end of it, which would make "the attacker got
// every free port" a matter of luck.
constexpr uint16_t kLow = 5055, kHigh = 5076;
const std::set<uint16_t> kReservedPorts = {5060, 5070, 5071};
// Outside the range: the listener the attacker's connect() calls aim at.
constexpr uint16_t kListenerPort = 6001;

std::string read_text(const char* path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_text(const char* path, const std::string& text) {
    std::ofstream out(path);
    out << text << "\n";
    out.close();
    if (!out) throw std::runtime_error(std::string("cannot write ") + path);
}

// ip_local_reserved_ports as the kernel prints it: "5060,5070-5071".
std::set<uint16_t> reserved_sysctl() {
    std::set<uint16_t> ports;
    std::stringstream in(read_text(kReserved));
    for (std::string item; std::getline(in, item, ',');) {
        while (!item.empty() && (item.back() == '\n' || item.back() == ' ')) item.pop_back();
        if (item.empty()) continue;
        const auto dash = item.find('-');
        const unsigned lo = std::stoul(item.substr(0, dash));
        const unsigned hi = dash == std::string::npos ? lo : std::stoul(item.substr(dash + 1));
        for (unsigned p = lo; p <= hi; ++p) ports.insert(static_cast<uint16_t>(p));
    }
    return ports;
}

std::set<uint16_t> full_range() {
    std::set<uint16_t> all;
    for (unsigned p = kLow; p <= kHigh; ++p) all.insert(static_cast<uint16_t>(p));
    return all;
}

std::set<uint16_t> range_without_reserved() {
    std::set<uint16_t> free = full_range();
    for (uint16_t p : kReservedPorts) free.erase(p);
    return free;
}

std::string join(const std::set<uint16_t>& ports) {
    std::string out;
    for (uint16_t p : ports) out += (out.empty() ? "" : ",") + std::to_string(p);
    return out;
}

// One attempt of the attacker's: how, and the port it got (0: refused, err says why).
struct Grab {
    char how[40] = {};
    char proto[4] = {};
    int32_t port = 0;
    int32_t err = 0;
};

// What the attacker's child does, in the sandbox cgroup as kAttacker. Every
// socket stays open until the child exits, so the ports it got stay taken.
class Attacker {
public:
    explicit Attacker(int out) : out_(out) {}

    void run() {
        listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in at = v4(INADDR_LOOPBACK, kListenerPort);
        if (listener_ < 0 || ::bind(listener_, addr(at), sizeof at) != 0 || listen(listener_, 256) != 0) _exit(3);

        // First the sharp end: a socket's own range that holds only reserved ports.
        for (auto [lo, hi] : {std::pair<uint16_t, uint16_t>{5060, 5060}, {5070, 5071}}) {
            const std::string tag = " IP_LOCAL_PORT_RANGE " + std::to_string(lo) + "-" + std::to_string(hi);
            attempt("udp", "bind(0)" + tag, [&] { return bind_zero(AF_INET, SOCK_DGRAM, lo, hi); });
            attempt("udp", "sendto" + tag, [&] { return udp_sendto(lo, hi); });
            attempt("tcp", "bind(0)" + tag, [&] { return bind_zero(AF_INET, SOCK_STREAM, lo, hi); });
            attempt("tcp", "listen" + tag, [&] { return tcp_listen(lo, hi); });
            attempt("tcp", "connect" + tag, [&] { return tcp_connect(lo, hi); });
        }
        // Then take everything the range hands out, every way there is, until
        // a whole round of them gets nothing.
        struct Way {
            const char* proto;
            const char* how;
            int (*fn)();
        };
        const Way ways[] = {
            {"udp", "bind(0) 0.0.0.0", [] { return bind_zero(AF_INET, SOCK_DGRAM); }},
            {"udp", "bind(0) [::]", [] { return bind_zero(AF_INET6, SOCK_DGRAM); }},
            {"udp", "sendto unbound", [] { return udp_sendto(); }},
            {"udp", "connect unbound", [] { return udp_connect(); }},
            {"tcp", "bind(0) 0.0.0.0", [] { return bind_zero(AF_INET, SOCK_STREAM); }},
            {"tcp", "bind(0) [::]", [] { return bind_zero(AF_INET6, SOCK_STREAM); }},
            {"tcp", "listen unbound", [] { return tcp_listen(); }},
            {"tcp", "connect unbound", [] { return tcp_connect(); }},
        };
        for (int round = 0; round < 100; ++round) {
            bool got = false;
            for (const auto& w : ways) got |= attempt(w.proto, w.how, w.fn) > 0;
            if (!got) break;
        }
    }

private:
    static sockaddr* addr(sockaddr_in& a) { return reinterpret_cast<sockaddr*>(&a); }
    static sockaddr_in v4(uint32_t host_addr, uint16_t port) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(host_addr);
        a.sin_port = htons(port);
        return a;
    }

    // Returns the local port the socket ended up with (> 0), or -errno.
    template <class Fn>
    int attempt(const char* proto, const std::string& how, Fn fn) {
        const int r = fn();
        Grab g;
        std::snprintf(g.how, sizeof g.how, "%s", how.c_str());
        std::snprintf(g.proto, sizeof g.proto, "%s", proto);
        g.port = r > 0 ? r : 0;
        g.err = r > 0 ? 0 : -r;
        if (write(out_, &g, sizeof g) != static_cast<ssize_t>(sizeof g)) _exit(4);
        return r;
    }

    static int local_port(int s) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        if (getsockname(s, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return -errno;
        return ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                        : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    }

    // A new socket, with its own port range when lo is not 0.
    static int make(int family, int type, uint16_t lo = 0, uint16_t hi = 0) {
        int s = socket(family, type | SOCK_CLOEXEC, 0);
        if (s < 0) _exit(5);
        if (family == AF_INET6) {
            int off = 0;   // dual stack: a v4 and a v6 socket compete for the port
            setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        }
        if (lo) {
            uint32_t range = static_cast<uint32_t>(hi) << 16 | lo;
            if (setsockopt(s, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range, sizeof range) != 0) _exit(6);
        }
        return s;
    }

    static int result(int s, int rc) { return rc == 0 ? local_port(s) : -errno; }

    static int bind_zero(int family, int type, uint16_t lo = 0, uint16_t hi = 0) {
        int s = make(family, type, lo, hi);
        if (family == AF_INET6) {
            sockaddr_in6 a{};
            a.sin6_family = AF_INET6;
            a.sin6_addr = in6addr_any;
            return result(s, ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a));
        }
        sockaddr_in a = v4(INADDR_ANY, 0);
        return result(s, ::bind(s, addr(a), sizeof a));
    }

    static int udp_sendto(uint16_t lo = 0, uint16_t hi = 0) {
        int s = make(AF_INET, SOCK_DGRAM, lo, hi);
        sockaddr_in to = v4(INADDR_LOOPBACK, 9);
        const ssize_t n = sendto(s, "x", 1, 0, addr(to), sizeof to);
        return result(s, n == 1 ? 0 : -1);
    }

    static int udp_connect() {
        int s = make(AF_INET, SOCK_DGRAM);
        sockaddr_in to = v4(INADDR_LOOPBACK, 9);
        return result(s, connect(s, addr(to), sizeof to));
    }

    static int tcp_listen(uint16_t lo = 0, uint16_t hi = 0) {
        int s = make(AF_INET, SOCK_STREAM, lo, hi);
        return result(s, listen(s, 1));
    }

    static int tcp_connect(uint16_t lo = 0, uint16_t hi = 0) {
        int s = make(AF_INET, SOCK_STREAM, lo, hi);
        linger l{1, 0};   // closed with a reset: no TIME_WAIT left to hold a port
        setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        sockaddr_in to = v4(INADDR_LOOPBACK, kListenerPort);
        return result(s, connect(s, addr(to), sizeof to));
    }

    int out_;
    int listener_ = -1;
};

struct Census {
    std::vector<Grab> grabs;
    std::set<uint16_t> udp, tcp;   // the ports handed out
    size_t successes = 0, attempts = 0;

    std::string reserved_handed_out() const {
        std::string out;
        for (const auto& g : grabs)
            if (kReservedPorts.count(static_cast<uint16_t>(g.port)))
                out += std::string("  ") + g.proto + " " + g.how + " got " + std::to_string(g.port) + "\n";
        return out;
    }
    // The attempts that got a port outside the range: the test is not testing what it thinks.
    std::string outside_range() const {
        std::string out;
        for (const auto& g : grabs)
            if (g.port && (g.port < kLow || g.port > kHigh))
                out += std::string("  ") + g.proto + " " + g.how + " got " + std::to_string(g.port) + "\n";
        return out;
    }
    std::string summary() const {
        return std::to_string(attempts) + " attempts, " + std::to_string(successes) + " ports handed out; udp: " + join(udp) +
               "; tcp: " + join(tcp);
    }
    // Each way's attempts and the ports it got.
    std::string by_way() const {
        std::map<std::string, std::pair<int, std::set<uint16_t>>> ways;
        for (const auto& g : grabs) {
            auto& w = ways[std::string(g.proto) + " " + g.how];
            ++w.first;
            if (g.port) w.second.insert(static_cast<uint16_t>(g.port));
        }
        std::string out;
        for (const auto& [how, w] : ways)
            out += "    " + how + ": " + std::to_string(w.first) + " tries, got " + (w.second.empty() ? "none" : join(w.second)) + "\n";
        return out;
    }
};

// Forks the attacker: joins the sandbox cgroup, becomes kAttacker, grabs.
Census grab_everything(const Sandbox& sb) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        int fd = open((sb.cgroup() + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1) _exit(1);
        close(fd);
        if (setgroups(0, nullptr) != 0 || setresgid(kAttacker.gid, kAttacker.gid, kAttacker.gid) != 0 ||
            setresuid(kAttacker.uid, kAttacker.uid, kAttacker.uid) != 0)
            _exit(2);
        Attacker(p[1]).run();
        _exit(0);
    }
    close(p[1]);
    Census c;
    Grab g;
    while (read(p[0], &g, sizeof g) == static_cast<ssize_t>(sizeof g)) {
        g.how[sizeof g.how - 1] = g.proto[sizeof g.proto - 1] = '\0';
        c.grabs.push_back(g);
        ++c.attempts;
        if (g.port) {
            ++c.successes;
            (std::string(g.proto) == "udp" ? c.udp : c.tcp).insert(static_cast<uint16_t>(g.port));
        }
    }
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error("the attacker's child failed (status " + std::to_string(status) + ")");
    return c;
}

class Autobind : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, cgroups, BPF, other uids)";
        // The sandbox first: it moves the process into its private namespace
        // (once per process), which TearDown returns to. Then a fresh one for
        // this test, whose sysctls it changes. Opened the other way round,
        // TearDown would return to the host's namespace while the sandbox
        // believes the process is still in its own, and a later test of the
        // same process would bind in the host's.
        sb = std::make_unique<Sandbox>();
        outer_netns_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        ASSERT_GE(outer_netns_, 0) << strerror(errno);
        ASSERT_TRUE(sandbox::enter_private_netns()) << strerror(errno);
        ASSERT_EQ(reserved_sysctl(), std::set<uint16_t>{}) << "a new network namespace starts with no reserved ports";

        sb->entry("reserve/udp/5060", 0, 0, 0400, "u:52001:x,m::x");
        sb->entry("reserve/tcp/5060", 0, 0, 0400, "u:52001:x,m::x");
        sb->entry("reserve/udp/5070-5071", 0, 0, 0400, "u:52001:x,m::x");
    }

    void TearDown() override {
        sb.reset();   // unloads, in this test's namespace
        if (outer_netns_ >= 0) {
            EXPECT_EQ(setns(outer_netns_, CLONE_NEWNET), 0) << strerror(errno);
            close(outer_netns_);
        }
    }

    void widen_range() {
        write_text(kRange, std::to_string(kLow) + " " + std::to_string(kHigh));
        ASSERT_EQ(read_text(kRange), std::to_string(kLow) + "\t" + std::to_string(kHigh) + "\n");
    }

    void apply() {
        auto r = sb->apply();
        ASSERT_EQ(r.status, 0) << r.out << r.err;
        for (uint16_t p : kReservedPorts) ASSERT_TRUE(reserved_sysctl().count(p)) << p << " not in " << read_text(kReserved);
    }

    // The attacker got every port of the range, reserved or not: the check
    // below can fail, and fails for the want of ip_local_reserved_ports alone.
    static void expect_unprotected(const Census& c, const std::string& when) {
        EXPECT_EQ(c.outside_range(), "") << when;
        EXPECT_EQ(c.udp, full_range()) << when << ": " << c.summary();
        EXPECT_EQ(c.tcp, full_range()) << when << ": " << c.summary();
        EXPECT_NE(c.reserved_handed_out(), "") << when;
    }

    static void expect_protected(const Census& c, const std::string& when) {
        EXPECT_EQ(c.reserved_handed_out(), "") << when << ": automatic port selection handed out reserved ports:\n"
                                               << c.reserved_handed_out();
        EXPECT_EQ(c.outside_range(), "") << when;
        // Refused the way a full range refuses, not by a bind hook (which would prove nothing about the sysctl) ...
        for (const auto& g : c.grabs) {
            if (g.port) continue;
            EXPECT_TRUE(g.err == EADDRINUSE || g.err == EAGAIN || g.err == EADDRNOTAVAIL)
                << when << ": " << g.proto << " " << g.how << ": " << strerror(g.err);
        }
        // ... and not because the attacker gave up early: every other port is theirs.
        EXPECT_EQ(c.udp, range_without_reserved()) << when << ": " << c.summary();
        EXPECT_EQ(c.tcp, range_without_reserved()) << when << ": " << c.summary();
    }

    std::unique_ptr<Sandbox> sb;
    int outer_netns_ = -1;
};

TEST_F(Autobind, WidenedPortRangeNeverHandsOutAReservedPort) {
    // Applied while the range (32768-60999) holds none of the reserved ports.
    apply();
    widen_range();
    const Census c = grab_everything(*sb);
    std::printf("applied, then range widened: %s\n%s", c.summary().c_str(), c.by_way().c_str());
    expect_protected(c, "applied, then the range widened");

    // The same attacker in the same namespace once the reservations are gone.
    ASSERT_EQ(sb->portauth({"unload"}).status, 0);
    EXPECT_EQ(reserved_sysctl(), std::set<uint16_t>{});
    const Census control = grab_everything(*sb);
    std::printf("unloaded: %s\n%s", control.summary().c_str(), control.by_way().c_str());
    expect_unprotected(control, "unloaded");
}

TEST_F(Autobind, RangeWidenedBeforeApplyNeverHandsOutAReservedPortEither) {
    widen_range();
    const Census control = grab_everything(*sb);
    std::printf("nothing applied: %s\n%s", control.summary().c_str(), control.by_way().c_str());
    expect_unprotected(control, "nothing applied yet");

    apply();
    const Census c = grab_everything(*sb);
    std::printf("range widened, then applied: %s\n%s", c.summary().c_str(), c.by_way().c_str());
    expect_protected(c, "the range widened, then applied");
}

TEST_F(Autobind, StatusWarnsWhenTheSysctlIsRewrittenAndApplyPutsItBack) {
    apply();
    widen_range();
    auto st = sb->portauth({"status"});
    ASSERT_EQ(st.status, 0) << st.out << st.err;
    EXPECT_EQ(st.out.find("warning"), std::string::npos) << st.out;

    // Someone writes their own list, without portauth's ports.
    write_text(kReserved, "5000");
    ASSERT_EQ(reserved_sysctl(), std::set<uint16_t>{5000});
    st = sb->portauth({"status"});
    EXPECT_EQ(st.status, 0) << "still active\n" << st.out << st.err;
    std::string warning;
    for (std::stringstream in(st.out); std::getline(in, warning);)
        if (warning.find("warning") != std::string::npos) break;
    EXPECT_NE(warning.find("ip_local_reserved_ports"), std::string::npos) << st.out;
    EXPECT_NE(warning.find("5060,5070-5071"), std::string::npos) << "the missing ports are named\n" << st.out;
    EXPECT_NE(warning.find("portauth apply"), std::string::npos) << "and the fix\n" << st.out;
    EXPECT_EQ(warning.find("5000"), std::string::npos) << "5000 is not portauth's\n" << st.out;
    st = sb->portauth({"status", "--json"});
    EXPECT_NE(st.out.find("\"problem\":\"ip_local_reserved_ports no longer holds the reserved ports 5060,5070-5071"),
              std::string::npos)
        << st.out;

    // The warning is about something real: the attacker gets the reserved ports now.
    const Census exposed = grab_everything(*sb);
    std::printf("sysctl rewritten: %s\n%s", exposed.summary().c_str(), exposed.by_way().c_str());
    EXPECT_NE(exposed.reserved_handed_out(), "") << exposed.summary();

    auto r = sb->apply();
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_EQ(reserved_sysctl(), (std::set<uint16_t>{5000, 5060, 5070, 5071})) << "back, next to the other list's 5000";
    st = sb->portauth({"status"});
    EXPECT_EQ(st.status, 0);
    EXPECT_EQ(st.out.find("warning"), std::string::npos) << st.out;
    const Census c = grab_everything(*sb);
    std::printf("applied again: %s\n%s", c.summary().c_str(), c.by_way().c_str());
    expect_protected(c, "applied again");
}

TEST_F(Autobind, UnloadGivesThePortsBack) {
    // The admin's own: 6000, and 5060, which a reservation names too.
    write_text(kReserved, "5060,6000");
    apply();
    EXPECT_EQ(reserved_sysctl(), (std::set<uint16_t>{5060, 5070, 5071, 6000}));
    auto st = sb->portauth({"status", "--json"});
    EXPECT_NE(st.out.find("\"ip_local_reserved_ports_added\":\"5070-5071\""), std::string::npos)
        << "5060 was there before: not portauth's to add or to take away\n" << st.out;

    auto r = sb->apply();   // a re-apply does not make the admin's ports its own
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_EQ(sb->portauth({"unload"}).status, 0);
    EXPECT_EQ(reserved_sysctl(), (std::set<uint16_t>{5060, 6000})) << read_text(kReserved);
}

}  // namespace
