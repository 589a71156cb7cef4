// Reloads, refused policies, edits that take effect at once, the adverb,
// ip_local_reserved_ports, status output.
#include <gtest/gtest.h>
#include <grp.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <fstream>
#include <sstream>

#include "engine/events.hpp"
#include "sandbox.hpp"

using sandbox::Creds;
using sandbox::Sandbox;

namespace {

const Creds kAlice{51000, 51000, {}};
const Creds kBob{51001, 51001, {}};
const Creds kCarol{51002, 51002, {}};

class Lifecycle : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root (cgroups, BPF)";
    }
    Sandbox sb;
};

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

int bind_once(int type, uint16_t port) {
    int s = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    int r = bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 ? 0 : errno;
    close(s);
    return r;
}

// A child in the cgroup as `who`, binding in a loop until `stop_fd` is readable;
// it reports how many binds gave a verdict that no policy of the test gives.
pid_t start_binder(const std::string& cgroup, const Creds& who, uint16_t granted_port, int report_fd, int stop_fd) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    int fd = open((cgroup + "/cgroup.procs").c_str(), O_WRONLY);
    if (fd < 0 || write(fd, "0", 1) != 1) _exit(2);
    close(fd);
    if (setgroups(0, nullptr) || setresgid(who.gid, who.gid, who.gid) || setresuid(who.uid, who.uid, who.uid)) _exit(2);
    fcntl(stop_fd, F_SETFL, O_NONBLOCK);
    long binds = 0, wrong = 0;
    char c;
    while (read(stop_fd, &c, 1) != 1) {
        if (bind_once(SOCK_STREAM, 7600) != sandbox::refusal_errno()) ++wrong;   // reserved for others in both policies
        if (bind_once(SOCK_STREAM, granted_port) != 0) ++wrong;   // granted to this uid in both policies
        binds += 2;
    }
    long out[2] = {binds, wrong};
    (void)!write(report_fd, out, sizeof out);
    _exit(0);
}

}  // namespace

TEST_F(Lifecycle, AtomicReloadWhileOthersBindInALoop) {
    // Policy A: tcp/7600 is alice's. Policy B: it is bob's. In both, carol may bind
    // port 80 and may not bind 7600. A bind that saw half of one policy, or none,
    // would let carol have 7600 or refuse her 80.
    std::string a = sb.make_policy_dir("policy-a"), b = sb.make_policy_dir("policy-b");
    sb.entry_in(a, "reserve/tcp/7600", 0, 0, 0400, "u:51000:x,m::x");
    sb.entry_in(b, "reserve/tcp/7600", 0, 0, 0400, "u:51001:x,m::x");
    for (const auto& dir : {a, b}) {
        sb.entry_in(dir, "byport/80", kCarol.uid, 0, 0500);
        sb.entry_in(dir, "byport/81", kCarol.uid, 0, 0500);
    }
    auto apply = [&](const std::string& dir) {
        return sandbox::run({PORTAUTH_BIN, "apply", "--policy-dir", dir, "--pin-dir", sb.pin_dir(), "--cgroup", sb.cgroup()});
    };
    ASSERT_EQ(apply(a).status, 0);
    int report[2], stop[2];
    ASSERT_EQ(pipe(report), 0);
    ASSERT_EQ(pipe(stop), 0);
    pid_t p1 = start_binder(sb.cgroup(), kCarol, 80, report[1], stop[0]);
    pid_t p2 = start_binder(sb.cgroup(), kCarol, 81, report[1], stop[0]);
    int reloads = 0;
    for (int i = 0; i < 20; ++i) {
        auto r = apply(i % 2 ? a : b);
        EXPECT_EQ(r.status, 0) << r.err;
        reloads += r.status == 0;
        // Alice or bob may hold 7600 depending on which policy is in force; never both refused.
        const int alice = sb.bind(kAlice, "tcp", "0.0.0.0", 7600), bob = sb.bind(kBob, "tcp", "0.0.0.0", 7600);
        EXPECT_TRUE((alice == 0) != (bob == 0)) << "alice " << alice << " bob " << bob << " after reload " << i;
    }
    (void)!write(stop[1], "xx", 2);
    long total = 0, wrong = 0;
    for (int i = 0; i < 2; ++i) {
        long out[2] = {0, 0};
        ASSERT_EQ(read(report[0], out, sizeof out), static_cast<ssize_t>(sizeof out));
        total += out[0];
        wrong += out[1];
    }
    waitpid(p1, nullptr, 0);
    waitpid(p2, nullptr, 0);
    EXPECT_EQ(reloads, 20);
    EXPECT_GT(total, 100) << "the binders should have raced the reloads";
    EXPECT_EQ(wrong, 0) << "of " << total << " binds during " << reloads << " reloads";
}

TEST_F(Lifecycle, RefusedPolicyKeepsThePreviousOneEnforced) {
    sb.entry("reserve/tcp/7700", 0, 0, 0400, "u:51000:x,m::x");
    ASSERT_EQ(sb.apply().status, 0);
    sb.entry("byport/80", kBob.uid, 0, 0500);
    sb.entry("byuid/51001", 0, 0, 0666, "", "127.0.0.1,81\n");   // a group-writable byuid file: the whole tree is refused
    sb.remove("reserve/tcp/7700");
    auto r = sb.apply();
    EXPECT_EQ(r.status, 111);
    EXPECT_NE(r.err.find("byuid/51001"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("previous policy"), std::string::npos) << r.err;
    EXPECT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 7700), EACCES) << "the old reservation still holds";
    EXPECT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 80), EACCES) << "the new grant is not half-loaded";
}

TEST_F(Lifecycle, EditsTakeEffectAtOnceWhenEnforcementIsActive) {
    ASSERT_EQ(sb.apply().status, 0);
    EXPECT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 80), EACCES);
    auto r = sb.portauth({"allow", "80", "51000"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 80), 0);
    r = sb.portauth({"revoke", "80", "51000"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 80), EACCES);

    r = sb.portreserve({"add", "udp/7800", "51000"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(sb.bind(kBob, "udp", "0.0.0.0", 7800), EACCES);
    EXPECT_EQ(sb.bind(kAlice, "udp", "0.0.0.0", 7800), 0);
    r = sb.portreserve({"release", "udp/7800"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(sb.bind(kBob, "udp", "0.0.0.0", 7800), 0);

    r = sb.portreserve({"add", "--no-apply", "udp/7801", "51000"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(sb.bind(kBob, "udp", "0.0.0.0", 7801), 0) << "--no-apply only writes the files";
}

TEST_F(Lifecycle, StatusJsonReportsCountersPerEntry) {
    sb.entry("reserve/tcp/7900", 0, 0, 0400, "u:51000:x,m::x");
    ASSERT_EQ(sb.apply().status, 0);
    ASSERT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 7900), EACCES);
    ASSERT_EQ(sb.bind(kBob, "tcp", "127.0.0.1", 7900), EACCES);
    ASSERT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 7900), 0);
    auto r = sb.portauth({"status", "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("\"active\":true"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"cgroup\":\"" + sb.cgroup() + "\""), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("{\"id\":0,\"entry\":\"reserve/tcp/7900\",\"allowed\":1,\"denied\":2}"), std::string::npos) << r.out;
}

// A re-apply (systemctl reload) keeps the counts of the entries that stay;
// an entry added with it starts from zero.
TEST_F(Lifecycle, CountersCarryOverAReapply) {
    sb.entry("reserve/tcp/7901", 0, 0, 0400, "u:51000:x,m::x");
    ASSERT_EQ(sb.apply().status, 0);
    ASSERT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 7901), EACCES);
    ASSERT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 7901), 0);
    sb.entry("reserve/tcp/7902", 0, 0, 0400, "u:51000:x,m::x");
    ASSERT_EQ(sb.apply().status, 0);
    ASSERT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 7901), EACCES);
    ASSERT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 7902), EACCES);
    auto r = sb.portauth({"status", "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("\"entry\":\"reserve/tcp/7901\",\"allowed\":1,\"denied\":2}"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"entry\":\"reserve/tcp/7902\",\"allowed\":0,\"denied\":1}"), std::string::npos) << r.out;
}

TEST_F(Lifecycle, AdverbChecksEnforcementThenExecs) {
    auto not_active = sandbox::run({PORTAUTH_BIN, "--pin-dir", sb.pin_dir(), "true"});
    EXPECT_EQ(not_active.status, 111);
    EXPECT_NE(not_active.err.find("portauth apply"), std::string::npos) << not_active.err;
    ASSERT_EQ(sb.apply().status, 0);
    auto outside = sandbox::run({PORTAUTH_BIN, "--pin-dir", sb.pin_dir(), "true"});
    EXPECT_EQ(outside.status, 111) << "this test process is not in the sandbox cgroup";
    EXPECT_NE(outside.err.find("does not contain this process"), std::string::npos) << outside.err;

    // Inside the cgroup: it execs the program, arguments untouched.
    auto inside = [&](std::vector<std::string> args) {
        std::vector<std::string> argv = {"sh", "-c", "echo $$ > \"$0/cgroup.procs\" && exec \"$@\"", sb.cgroup(),
                                         PORTAUTH_BIN, "--deep", "--pin-dir", sb.pin_dir(), "--"};
        argv.insert(argv.end(), args.begin(), args.end());
        return sandbox::run(argv);
    };
    const std::string not_executable = sb.tmp() + "/not-executable";
    std::ofstream(not_executable) << "data\n";
    auto ok = inside({"echo", "--pin-dir", "hello"});
    EXPECT_EQ(ok.status, 0) << ok.err;
    EXPECT_EQ(ok.out, "--pin-dir hello\n");
    EXPECT_EQ(inside({"/nonexistent/program"}).status, 127);
    EXPECT_EQ(inside({not_executable}).status, 126);
}

TEST_F(Lifecycle, EveryReservedPortIsKeptFromAutomaticSelection) {
    // udp/80 lies outside ip_local_port_range today; the range may be widened tomorrow.
    // In a private network namespace: its sysctls are its own.
    sb.entry("reserve/tcp/40000-40002", 0, 0, 0400, "u:51000:x,m::x");
    sb.entry("reserve/udp/80", 0, 0, 0400, "u:51000:x,m::x");
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        std::string out;
        if (unshare(CLONE_NEWNET) != 0) _exit(2);
        const std::string sysctl = "/proc/sys/net/ipv4/ip_local_reserved_ports";
        std::ofstream(sysctl) << "40100\n";   // the admin's own entry, to be kept
        out += "before=" + read_file(sysctl);
        auto r = sandbox::run({PORTAUTH_BIN, "apply", "--policy-dir", sb.policy_dir(), "--pin-dir", sb.pin_dir(), "--cgroup", sb.cgroup()});
        out += "apply=" + std::to_string(r.status) + "\n" + r.err;
        out += "applied=" + read_file(sysctl);
        r = sandbox::run({PORTAUTH_BIN, "unload", "--pin-dir", sb.pin_dir()});
        out += "unload=" + std::to_string(r.status) + "\n";
        out += "unloaded=" + read_file(sysctl);
        (void)!write(p[1], out.data(), out.size());
        _exit(0);
    }
    close(p[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    close(p[0]);
    waitpid(pid, nullptr, 0);
    EXPECT_NE(out.find("before=40100\n"), std::string::npos) << out;
    EXPECT_NE(out.find("apply=0\n"), std::string::npos) << out;
    EXPECT_NE(out.find("applied=80,40000-40002,40100\n"), std::string::npos) << out;
    EXPECT_NE(out.find("unloaded=40100\n"), std::string::npos) << out;
}

TEST_F(Lifecycle, EveryRefusalIsAnEventOnTheRingBuffer) {
    sb.entry("reserve/udp/7950", 0, 0, 0400, "u:51000:x,m::x");
    ASSERT_EQ(sb.apply().status, 0);
    std::vector<portauth::RefusalEvent> events;
    auto reader = portauth::EventReader::open(sb.pin_dir(), [&](const portauth::RefusalEvent& e) { events.push_back(e); });
    ASSERT_TRUE(reader) << reader.error().message();
    ASSERT_EQ(sb.bind(kBob, "udp", "::1", 7950), EACCES);
    ASSERT_EQ(sb.bind(kAlice, "udp", "::1", 7950), 0);
    for (int i = 0; i < 20 && events.empty(); ++i) ASSERT_TRUE((*reader)->poll(100));
    ASSERT_EQ(events.size(), 1u);
    const auto& e = events[0];
    EXPECT_EQ(e.uid, kBob.uid);
    EXPECT_EQ(e.gid, kBob.gid);
    EXPECT_EQ(e.port, 7950);
    EXPECT_EQ(e.proto, portauth::Proto::udp);
    EXPECT_EQ(e.addr.str(), "::1");
    EXPECT_EQ(e.entry, "reserve/udp/7950");
    EXPECT_GT(e.pid, 0u);
    EXPECT_FALSE(e.comm.empty());
}

#ifdef DROPTO_BIN
TEST_F(Lifecycle, DroptoChainsIntoThePortauthAdverb) {
    // As a supervisor would run it: root starts `dropto USER portauth --deep PROGRAM`.
    sb.entry("byport/80", kAlice.uid, 0, 0500);
    ASSERT_EQ(sb.apply().status, 0);
    const std::string program =
        "import os, socket; s = socket.socket(); s.bind(('127.0.0.1', 80)); print(os.geteuid(), os.getgroups(), 'bound 80')";
    auto r = sandbox::run({"sh", "-c", "echo $$ > \"$0/cgroup.procs\" && exec \"$@\"", sb.cgroup(), DROPTO_BIN, "51000:51000",
                           PORTAUTH_BIN, "--deep", "--pin-dir", sb.pin_dir(), "/usr/bin/python3", "-c", program});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "51000 [] bound 80\n") << r.err;
    auto refused = sandbox::run({"sh", "-c", "echo $$ > \"$0/cgroup.procs\" && exec \"$@\"", sb.cgroup(), DROPTO_BIN,
                                 "51001:51001", PORTAUTH_BIN, "--deep", "--pin-dir", sb.pin_dir(), "/usr/bin/python3", "-c", program});
    EXPECT_NE(refused.status, 0);
    EXPECT_NE(refused.err.find("Permission denied"), std::string::npos) << refused.err;
}
#endif
