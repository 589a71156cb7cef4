// Random policies and random binds: the kernel's verdict must equal
// `portauth check`'s for every one of them. Binds to [::] are v6-only
// (IPV6_V6ONLY) half of the time, asked with `check --v6only`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <random>
#include <set>
#include <sstream>

#include "common/parse.hpp"
#include "sandbox.hpp"

using sandbox::Creds;
using sandbox::Sandbox;

namespace {

const std::vector<uint16_t> kPorts = {80, 81, 600, 7000, 7001};
const std::vector<std::string> kAddrs = {"127.0.0.1", "127.0.0.2", "::1", "0.0.0.0", "::"};
const std::vector<uint32_t> kUsers = {0, 51000, 51001, 51002};
const std::vector<uint32_t> kGroups = {52000, 52001, 52002};

class Random {
public:
    explicit Random(uint32_t seed) : gen_(seed) {}
    size_t below(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(gen_); }
    bool coin(int percent = 50) { return below(100) < static_cast<size_t>(percent); }
    template <class T>
    const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }

private:
    std::mt19937 gen_;
};

std::string bracketed(const std::string& a) { return a.find(':') != std::string::npos ? "[" + a + "]" : a; }

// An entry's permissions: owner, group, mode x bits, maybe named ACL entries.
struct Perms {
    uint32_t uid, gid;
    mode_t mode;
    std::string acl;
};

Perms random_perms(Random& r) {
    Perms p{r.pick(kUsers), r.pick(kGroups), 0400, ""};
    if (r.coin()) p.mode |= 0100;
    if (r.coin(30)) p.mode |= 0010;
    if (r.coin(15)) p.mode |= 0001;
    if (r.coin(40)) {
        std::vector<std::string> parts;
        if (r.coin()) parts.push_back("u:" + std::to_string(r.pick(kUsers)) + ":" + (r.coin(80) ? "x" : "-"));
        if (r.coin()) parts.push_back("g:" + std::to_string(r.pick(kGroups)) + ":" + (r.coin(80) ? "x" : "-"));
        if (!parts.empty()) {
            parts.push_back(std::string("m::") + (r.coin(80) ? "x" : "-"));
            std::string acl;
            for (const auto& s : parts) acl += (acl.empty() ? "" : ",") + s;
            p.acl = acl;
        }
    }
    return p;
}

std::string leaf_port(uint16_t port) { return (port >= 512 && port <= 1023 ? "!" : "") + std::to_string(port); }

void random_policy(Sandbox& sb, Random& r, std::ostringstream& log) {
    for (uint16_t port : kPorts) {
        if (r.coin(30)) {
            Perms p = random_perms(r);
            sb.entry("byport/" + leaf_port(port), p.uid, p.gid, p.mode, p.acl);
            log << "byport/" << port << " " << p.uid << ":" << p.gid << " " << std::oct << p.mode << std::dec << " " << p.acl << "\n";
        }
        for (const auto& addr : kAddrs) {
            if (!r.coin(15)) continue;
            Perms p = random_perms(r);
            const std::string leaf = (port >= 512 && port <= 1023 ? "!" : "") + addr + "," + std::to_string(port);
            sb.entry("byaddr/" + leaf, p.uid, p.gid, p.mode, p.acl);
            log << "byaddr/" << leaf << " " << p.uid << ":" << p.gid << " " << std::oct << p.mode << std::dec << " " << p.acl << "\n";
        }
    }
    for (uint32_t uid : kUsers) {
        if (uid == 0 || !r.coin(40)) continue;
        std::string lines;
        for (int i = 0; i < 2; ++i) {
            const std::string& addr = r.pick(kAddrs);
            const bool v6 = addr.find(':') != std::string::npos;
            const std::string net = r.coin() ? addr + (v6 ? "/128" : "/32") : (v6 ? "::/0" : "0.0.0.0/0");
            lines += net + "," + std::to_string(r.pick(kPorts)) + "\n";
        }
        const bool bang = r.coin(30);
        const std::string name = "byuid/" + std::string(bang ? "!" : "") + std::to_string(uid);
        sb.entry(name, 0, 0, 0644, "", lines);
        log << name << ": " << lines;
    }
    std::set<std::string> used;
    for (int i = 0; i < 4; ++i) {
        const std::string proto = r.coin() ? "tcp" : "udp";
        const uint16_t port = r.pick(kPorts);
        std::string spec = std::to_string(port);
        if (r.coin(40)) {
            const std::string& addr = r.pick(kAddrs);
            if (addr == "0.0.0.0" || addr == "::") continue;
            spec += "@" + bracketed(addr);
        }
        if (!used.insert(proto + "/" + spec).second) continue;
        Perms p = random_perms(r);
        sb.entry("reserve/" + proto + "/" + spec, p.uid, p.gid, p.mode, p.acl);
        log << "reserve/" << proto << "/" << spec << " " << p.uid << ":" << p.gid << " " << std::oct << p.mode << std::dec << " " << p.acl << "\n";
    }
    if (r.coin(30)) {
        sb.entry("portauth.conf", 0, 0, 0644, "", "root-exempt = no\n");
        log << "root-exempt = no\n";
    }
}

}  // namespace

TEST(Differential, KernelVerdictEqualsPortauthCheck) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (cgroups, BPF)";
    const uint32_t seed = static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()) ^ static_cast<uint32_t>(getpid());
    Random r(seed);
    // Binds per round: 40, or PORTAUTH_TEST_DIFFERENTIAL_BINDS (scripts/ci-kernels.sh
    // asks for fewer under emulation, where each exec of portauth costs ~100x).
    int binds = 40;
    if (const char* env = std::getenv("PORTAUTH_TEST_DIFFERENTIAL_BINDS"))
        if (const auto n = portauth::parse_decimal(env, 1000); n && *n > 0) binds = static_cast<int>(*n);
    int compared = 0, allowed = 0, v6only_binds = 0;
    for (int round = 0; round < 6; ++round) {
        Sandbox sb;
        std::ostringstream log;
        random_policy(sb, r, log);
        auto applied = sb.apply();
        ASSERT_EQ(applied.status, 0) << "seed " << seed << "\n" << log.str() << applied.err;
        const bool reads_v6only = !sandbox::program_lacks_feature(sb, "v6only");
        for (int i = 0; i < binds; ++i) {
            Creds who{r.pick(kUsers), r.pick(kGroups), {}};
            if (r.coin()) who.groups.push_back(r.pick(kGroups));
            const std::string proto = r.coin() ? "tcp" : "udp";
            const std::string& addr = r.pick(kAddrs);
            const uint16_t port = r.pick(kPorts);
            sandbox::BindOptions options;
            options.v6_only = addr == "::" && r.coin();
            v6only_binds += options.v6_only;
            const int kernel = sb.bind(who, proto, addr, port, options);
            ASSERT_TRUE(kernel == 0 || kernel == EACCES) << "errno " << kernel;
            std::vector<std::string> args = {"check", "--user", std::to_string(who.uid), "--group", std::to_string(who.gid)};
            for (uint32_t g : who.groups) args.insert(args.end(), {"--group", std::to_string(g)});
            if (options.v6_only && reads_v6only) args.push_back("--v6only");
            args.push_back(proto + "/" + std::to_string(port) + "@" + bracketed(addr));
            auto check = sb.portauth(args);
            ASSERT_TRUE(check.status == 0 || check.status == 1) << check.err;
            EXPECT_EQ(kernel == 0, check.status == 0)
                << "seed " << seed << ": uid " << who.uid << " gid " << who.gid << " binding " << args.back()
                << (options.v6_only ? " (IPV6_V6ONLY)" : "")
                << "\nkernel: " << (kernel ? "refused" : "allowed") << "\ncheck: " << check.out << "policy:\n" << log.str();
            ++compared;
            allowed += kernel == 0;
        }
    }
    RecordProperty("compared", compared);
    RecordProperty("v6only_binds", v6only_binds);
    EXPECT_EQ(compared, 6 * binds);
    if (binds >= 20) {
        EXPECT_GT(v6only_binds, 0) << "seed " << seed;
    }
    // Random policies that allowed everything or nothing would prove little.
    EXPECT_GT(allowed, compared / 12);
    EXPECT_LT(allowed, compared - compared / 12);
}
