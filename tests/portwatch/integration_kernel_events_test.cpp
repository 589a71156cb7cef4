// The kernel side of portwatch's inputs, against the real kernel: refusal
// events rate-limited per key and counted (delivered + suppressed + dropped
// == the entry's denied counter), grant misses as events, and the binder
// recorded in socket storage so that a socket created as root and bound by
// the reservation's owner after dropping privileges is not a squatter.
// Each test runs in a network namespace of its own (unshared here, lo up) with
// a Sandbox (private cgroup, bpffs, policy dir); children join the cgroup and
// become numeric test uids.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>

#include <bpf/bpf.h>

#include "engine/engine.hpp"
#include "engine/events.hpp"
#include "policy/tree.hpp"
#include "portwatch/scanner.hpp"
#include "portwatch/sockdiag.hpp"
#include "sandbox.hpp"

namespace {

using namespace std::chrono_literals;
using portauth::RefusalEvent;
using portauth::RefusalKind;
using sandbox::Creds;

const Creds kOwner{51000, 51000, {}};
const Creds kOther{51001, 51001, {}};
const Creds kThird{51002, 51002, {}};

int inet_bind(int fd, const char* addr, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, addr, &a.sin_addr);
    return bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? 0 : errno;
}

bool become(const Creds& who) {
    return setgroups(0, nullptr) == 0 && setresgid(who.gid, who.gid, who.gid) == 0 &&
           setresuid(who.uid, who.uid, who.uid) == 0;
}

bool join(const std::string& cgroup) {
    const int fd = open((cgroup + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
    const bool ok = fd >= 0 && write(fd, "0", 1) == 1;
    if (fd >= 0) close(fd);
    return ok;
}

// A child in the cgroup: runs `body` and exits with its result.
pid_t spawn(const std::string& cgroup, const std::function<int()>& body) {
    const pid_t pid = fork();
    if (pid != 0) return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (!join(cgroup)) _exit(100);
    _exit(body());
}

int wait_exit(pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Attacker's program: bind() in a loop as `who` for `seconds`; writes the attempts to `out_fd`.
pid_t start_flood(const std::string& cgroup, const Creds& who, uint16_t port, double seconds, int out_fd) {
    return spawn(cgroup, [=] {
        if (!become(who)) return 101;
        const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        uint64_t attempts = 0, wrong = 0;
        const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
        while (std::chrono::steady_clock::now() < end) {
            if (inet_bind(fd, "127.0.0.1", port) != sandbox::refusal_errno()) ++wrong;
            ++attempts;
        }
        const uint64_t out[2] = {attempts, wrong};
        return write(out_fd, out, sizeof out) == sizeof out ? 0 : 102;
    });
}

// A process holding a socket that root created and `who` bound after
// dropping privileges (a server that drops root before bind). Killed at the end.
class DroppedServer {
public:
    DroppedServer(const std::string& cgroup, const Creds& who, int type, const char* addr, uint16_t port) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
        pid_ = fork();
        if (pid_ == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            int code = cgroup.empty() || join(cgroup) ? 0 : 1;
            const int fd = socket(AF_INET, type, 0);   // as root: the socket's uid is 0
            if (!code && !become(who)) code = 2;
            if (!code) code = inet_bind(fd, addr, port);
            if (!code && type == SOCK_STREAM && listen(fd, 8) != 0) code = 3;
            (void)!write(p[1], &code, sizeof code);
            for (;;) pause();
        }
        close(p[1]);
        if (read(p[0], &code_, sizeof code_) != sizeof code_) code_ = -1;
        close(p[0]);
    }
    ~DroppedServer() {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    int code() const { return code_; }

private:
    pid_t pid_ = -1;
    int code_ = -1;
};

class KernelEvents : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root (cgroups, BPF, network namespaces)";
        // The sandbox puts this process in a network namespace of its own, lo up.
        box_ = std::make_unique<sandbox::Sandbox>();
    }
    void TearDown() override { box_.reset(); }

    void reserve(const std::string& rel, uint32_t owner = kOwner.uid) {
        box_->entry(rel, 0, 0, 0400, "u:" + std::to_string(owner) + ":x,m::x");
    }
    std::unique_ptr<portauth::EventReader> reader() {
        auto r = portauth::EventReader::open(box_->pin_dir(), [this](const RefusalEvent& e) { events_.push_back(e); });
        if (!r) ADD_FAILURE() << r.error().message();
        return r ? std::move(*r) : nullptr;
    }
    // Reads what is waiting, in budgets of 64.
    void drain(portauth::EventReader& r) {
        for (int i = 0; i < 10000; ++i) {
            auto n = r.consume(64);
            ASSERT_TRUE(n) << n.error().message();
            if (*n == 0) return;
        }
    }
    uint64_t denied(const std::string& entry) {
        auto st = portauth::engine_status(box_->pin_dir());
        if (!st) ADD_FAILURE() << st.error().message();
        uint64_t sum = 0;
        if (st)
            for (const auto& r : st->rules)
                if (r.name == entry) sum += r.denied;
        return sum;
    }

    // The owner serves on 7950, the other on 7951, which portwatch's policy
    // reserves (for the owner) only after the apply: one squatter on 7951,
    // the other user, judged as `identity` ("binder": the uid that bound it,
    // from socket storage; "holder": the processes that hold it).
    void judge_7951(int type, const char* identity) {
        const char* proto = type == SOCK_STREAM ? "tcp" : "udp";
        DroppedServer owner(box_->cgroup(), kOwner, type, "127.0.0.1", 7950);
        ASSERT_EQ(owner.code(), 0);
        DroppedServer other(box_->cgroup(), kOther, type, "127.0.0.1", 7951);
        ASSERT_EQ(other.code(), 0);
        reserve(std::string("reserve/") + proto + "/7951");
        auto policy = portauth::load_policy(box_->policy_dir());
        ASSERT_TRUE(policy) << policy.error().message();
        auto result = portauth::watch::scan(*policy, portauth::watch::ScanSettings{box_->pin_dir()});
        ASSERT_TRUE(result) << result.error().message();
        ASSERT_EQ(result->squatters.size(), 1u);
        const auto& q = result->squatters[0];
        EXPECT_EQ(q.socket.port, 7951);
        EXPECT_EQ(q.identity, identity);
        EXPECT_EQ(q.uid, kOther.uid);
        EXPECT_EQ(q.socket.uid, 0u) << "the socket's uid is its creator's";
    }

    std::unique_ptr<sandbox::Sandbox> box_;
    std::vector<RefusalEvent> events_;
};

TEST_F(KernelEvents, AFloodFromOneUserIsFoldedCountedAndDoesNotHideAnother) {
    reserve("reserve/udp/7950");
    ASSERT_EQ(box_->apply().status, 0);
    auto r = reader();
    ASSERT_TRUE(r);
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    const double seconds = 2.0;
    const pid_t flood = start_flood(box_->cgroup(), kOther, 7950, seconds, p[1]);
    std::this_thread::sleep_for(1s);
    // A distinct user refused mid-flood: its key has no window yet, its event goes out at once.
    ASSERT_EQ(box_->bind(kThird, "udp", "127.0.0.1", 7950), EACCES);
    drain(*r);
    ASSERT_EQ(wait_exit(flood), 0);
    uint64_t out[2] = {};
    ASSERT_EQ(read(p[0], out, sizeof out), static_cast<ssize_t>(sizeof out));
    close(p[0]);
    close(p[1]);
    const uint64_t attempts = out[0];
    EXPECT_EQ(out[1], 0u) << "binds that were not refused";
    EXPECT_GT(attempts, 1000u);

    size_t third = 0;
    for (const auto& e : events_)
        if (e.uid == kThird.uid) {
            ++third;
            EXPECT_EQ(e.suppressed, 0u);
            EXPECT_EQ(e.kind, RefusalKind::reservation);
            EXPECT_EQ(e.entry, "reserve/udp/7950");
        }
    EXPECT_EQ(third, 1u) << "the distinct refusal made during the flood was not delivered";

    // The window closes: one more refusal carries what the last window folded.
    std::this_thread::sleep_for(std::chrono::nanoseconds(PA_EVENT_WINDOW_NS) + 50ms);
    ASSERT_EQ(box_->bind(kOther, "udp", "127.0.0.1", 7950), EACCES);
    drain(*r);

    uint64_t flood_events = 0, represented = 0;
    for (const auto& e : events_) {
        if (e.uid != kOther.uid) continue;
        ++flood_events;
        represented += 1 + e.suppressed;
        if (e.suppressed > 0) {
            EXPECT_GT(e.window_start_ns, 0u);
            EXPECT_LE(e.window_start_ns, e.time_ns);
        } else {
            EXPECT_EQ(e.window_start_ns, 0u);
        }
    }
    // At most one per window (plus the first and the flushing one).
    const uint64_t windows = static_cast<uint64_t>(seconds * 1e9 / PA_EVENT_WINDOW_NS);
    EXPECT_LE(flood_events, windows + 3) << "events for " << attempts << " attempts";
    EXPECT_GE(flood_events, 2u);

    auto stats = r->stats();
    ASSERT_TRUE(stats) << stats.error().message();
    const uint64_t kernel_denied = denied("reserve/udp/7950");
    EXPECT_EQ(kernel_denied, attempts + 2);   // the flood, the third user, the flushing bind
    EXPECT_EQ(stats->delivered + stats->suppressed + stats->dropped, kernel_denied);
    EXPECT_EQ(stats->delivered, events_.size());
    if (stats->dropped == 0) {
        EXPECT_EQ(represented, attempts + 1) << "suppressed counts do not add up";
    }
    std::printf("flood: %llu attempts, %llu events for them, stats delivered=%llu suppressed=%llu dropped=%llu\n",
                static_cast<unsigned long long>(attempts), static_cast<unsigned long long>(flood_events),
                static_cast<unsigned long long>(stats->delivered), static_cast<unsigned long long>(stats->suppressed),
                static_cast<unsigned long long>(stats->dropped));
}

TEST_F(KernelEvents, ConsumeHandsAtMostItsBudget) {
    reserve("reserve/udp/7950");
    ASSERT_EQ(box_->apply().status, 0);
    auto r = reader();
    ASSERT_TRUE(r);
    // Distinct keys (uids): each refusal is delivered.
    for (uint32_t uid = 51010; uid < 51015; ++uid) ASSERT_EQ(box_->bind(Creds{uid, uid, {}}, "udp", "127.0.0.1", 7950), EACCES);
    auto n = r->consume(2);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 2);
    EXPECT_EQ(events_.size(), 2u);
    n = r->consume(100);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 3);
    n = r->consume(100);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 0);
    ASSERT_EQ(events_.size(), 5u);
    for (size_t i = 0; i < events_.size(); ++i) EXPECT_EQ(events_[i].uid, 51010 + i);   // none lost, none twice
}

TEST_F(KernelEvents, AGrantThatDoesNotGrantIsAnEventWhenTheKernelRefuses) {
    box_->entry("byport/80", 0, 0, 0400, "u:51000:x,m::x");
    reserve("reserve/tcp/7960");
    ASSERT_EQ(box_->apply().status, 0);
    auto r = reader();
    ASSERT_TRUE(r);
    EXPECT_EQ(box_->bind(kOther, "tcp", "127.0.0.1", 80), EACCES);   // the kernel's own refusal
    EXPECT_EQ(box_->bind(kOwner, "tcp", "127.0.0.1", 80), 0);        // granted: no event
    for (int i = 0; i < 20 && events_.empty(); ++i) ASSERT_TRUE(r->poll(100));
    drain(*r);
    ASSERT_EQ(events_.size(), 1u);
    const auto& e = events_[0];
    EXPECT_EQ(e.kind, RefusalKind::grant_miss);
    EXPECT_EQ(e.uid, kOther.uid);
    EXPECT_EQ(e.port, 80);
    EXPECT_EQ(e.proto, portauth::Proto::tcp);
    EXPECT_EQ(e.entry, "byport/80");
    // Root holds the capability: the kernel lets it bind, no event.
    EXPECT_EQ(box_->bind(Creds{0, 0, {}}, "tcp", "127.0.0.1", 80), 0);
    std::this_thread::sleep_for(100ms);
    drain(*r);
    EXPECT_EQ(events_.size(), 1u);
}

// TCP: sock_diag returns socket storage only for sockets with an
// inet_connection_sock (inet_sk_diag_fill skips it for UDP, see sockdiag.hpp).
TEST_F(KernelEvents, TheBinderIsRecordedAndJudgedNotTheCreator) {
    // Enforced: tcp/7950 is the owner's; on 7951 only udp is reserved, so a
    // tcp bind there passes the kernel but is still recorded.
    reserve("reserve/tcp/7950");
    reserve("reserve/udp/7951");
    ASSERT_EQ(box_->apply().status, 0);
    if (sandbox::withheld("sk_storage")) {
        EXPECT_NE(access((box_->pin_dir() + "/binders").c_str(), F_OK), 0) << "a binders map without socket storage";
        judge_7951(SOCK_STREAM, "holder");
        return;
    }
    ASSERT_EQ(access((box_->pin_dir() + "/binders").c_str(), F_OK), 0) << "no binders map pinned";
    DroppedServer owner(box_->cgroup(), kOwner, SOCK_STREAM, "127.0.0.1", 7950);
    ASSERT_EQ(owner.code(), 0);
    DroppedServer other(box_->cgroup(), kOther, SOCK_STREAM, "127.0.0.1", 7951);
    ASSERT_EQ(other.code(), 0);

    // sock_diag returns the binder with the socket.
    const portauth::Fd map(bpf_obj_get((box_->pin_dir() + "/binders").c_str()));
    ASSERT_TRUE(map);
    bpf_map_info info{};
    __u32 len = sizeof info;
    ASSERT_EQ(bpf_obj_get_info_by_fd(map.get(), &info, &len), 0);
    auto sockets = portauth::watch::dump_sockets(portauth::Proto::tcp, {{7950, 7951}},
                                                 portauth::watch::StorageRequest{{map.get()}, info.id});
    ASSERT_TRUE(sockets) << sockets.error().message();
    ASSERT_EQ(sockets->size(), 2u);
    for (const auto& s : *sockets) {
        EXPECT_EQ(s.uid, 0u) << "the socket's uid is its creator's";
        ASSERT_TRUE(s.binder) << "port " << s.port;
        EXPECT_EQ(s.binder->uid, s.port == 7950 ? kOwner.uid : kOther.uid);
        EXPECT_EQ(s.binder->gid, s.port == 7950 ? kOwner.gid : kOther.gid);
        EXPECT_TRUE(s.binder->groups.empty());
        EXPECT_GT(s.binder->pid, 0u);
    }
    // Without the map: the same sockets, no binder.
    auto plain = portauth::watch::dump_sockets(portauth::Proto::tcp, {{7950, 7951}});
    ASSERT_TRUE(plain);
    ASSERT_EQ(plain->size(), 2u);
    EXPECT_FALSE((*plain)[0].binder);

    // portwatch's policy also reserves tcp/7951 (say, edited since the apply).
    reserve("reserve/tcp/7951");
    auto policy = portauth::load_policy(box_->policy_dir());
    ASSERT_TRUE(policy) << policy.error().message();
    auto result = portauth::watch::scan(*policy, portauth::watch::ScanSettings{box_->pin_dir()});
    ASSERT_TRUE(result) << result.error().message();
    ASSERT_EQ(result->squatters.size(), 1u);
    const auto& q = result->squatters[0];
    EXPECT_EQ(q.socket.port, 7951);
    EXPECT_EQ(q.identity, "binder");
    EXPECT_EQ(q.uid, kOther.uid);
    EXPECT_EQ(q.socket.uid, 0u);
    EXPECT_EQ(q.entry, "reserve/tcp/7951");
    EXPECT_EQ(q.processes.size(), 1u);
}

// UDP: sock_diag does not return the storage; the scanner reads it through the holder's fd.
TEST_F(KernelEvents, AUdpSocketsBinderIsReadThroughItsHolder) {
    reserve("reserve/udp/7950");
    reserve("reserve/tcp/7951");
    ASSERT_EQ(box_->apply().status, 0);
    // Without socket storage (PORTAUTH_BPF_WITHOUT=sk_storage) no binder is
    // recorded and portwatch judges the holder, as documented.
    judge_7951(SOCK_DGRAM, sandbox::withheld("sk_storage") ? "holder" : "binder");
}

TEST_F(KernelEvents, WithoutEnforcementTheHoldersAreJudged) {
    reserve("reserve/udp/7950");
    reserve("reserve/udp/7951");
    DroppedServer owner("", kOwner, SOCK_DGRAM, "127.0.0.1", 7950);
    ASSERT_EQ(owner.code(), 0);
    DroppedServer other("", kOther, SOCK_DGRAM, "127.0.0.1", 7951);
    ASSERT_EQ(other.code(), 0);
    auto policy = portauth::load_policy(box_->policy_dir());
    ASSERT_TRUE(policy) << policy.error().message();
    // The sandbox's pin dir holds nothing: no binders.
    auto result = portauth::watch::scan(*policy, portauth::watch::ScanSettings{box_->pin_dir()});
    ASSERT_TRUE(result) << result.error().message();
    ASSERT_EQ(result->squatters.size(), 1u);
    const auto& q = result->squatters[0];
    EXPECT_EQ(q.socket.port, 7951);
    EXPECT_EQ(q.identity, "holder");
    EXPECT_EQ(q.uid, kOther.uid);
}

}  // namespace
