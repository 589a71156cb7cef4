// IPV6_V6ONLY: a bind to [::] by a v6-only socket takes the IPv6 wildcard
// only, so it collides with reservations on every address and on IPv6
// addresses, not with one on an IPv4 address; a dual-stack one collides with
// all three. The kernel and `portauth check [--v6only]` agree on every case.
// (A reservation on [::] itself does not exist: the tree refuses wildcard
// addresses in reservations.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "sandbox.hpp"

using sandbox::Creds;
using sandbox::Sandbox;

namespace {

const Creds kAlice{51000, 51000, {}};   // owns every reservation here
const Creds kBob{51001, 51001, {}};

struct Reserved {
    uint16_t port;
    const char* at;           // the entry's @ADDR, "" for every address
    int dual_stack, v6only;   // what bob's bind to [::] gets
};

// Per protocol: the same ports, each reserved for alice on one kind of address.
const Reserved kReserved[] = {
    {7601, "@127.0.0.1", EACCES, 0},   // a v6-only [::] does not take 127.0.0.1
    {7602, "@[::1]", EACCES, EACCES},  // a wildcard takes every address of its family
    {7603, "", EACCES, EACCES},        // a reservation on every address covers IPv6
};

class V6only : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root (cgroups, BPF)";
        for (const char* proto : {"tcp", "udp"})
            for (const auto& r : kReserved)
                sb.entry(std::string("reserve/") + proto + "/" + std::to_string(r.port) + r.at, 0, 0, 0400, "u:51000:x,m::x");
        auto applied = sb.apply();
        ASSERT_EQ(applied.status, 0) << applied.out << applied.err;
    }
    sandbox::ToolResult check(const std::string& spec, bool v6only, bool json = false) {
        std::vector<std::string> args = {"check", "--user", std::to_string(kBob.uid), "--group", std::to_string(kBob.gid)};
        if (v6only) args.push_back("--v6only");
        if (json) args.push_back("--json");
        args.push_back(spec);
        return sb.portauth(args);
    }
    Sandbox sb;
};

}  // namespace

TEST_F(V6only, KernelAndCheckAgreeOnWildcardBindsAgainstEachKindOfReservation) {
    const bool reads = !sandbox::program_lacks_feature(sb, "v6only");
    for (const char* proto : {"tcp", "udp"}) {
        for (const auto& r : kReserved) {
            for (bool v6only : {false, true}) {
                const std::string spec = std::string(proto) + "/" + std::to_string(r.port) + "@[::]";
                SCOPED_TRACE(spec + (v6only ? " v6only" : " dual-stack") + ", reserved " + (*r.at ? r.at : "on every address"));
                sandbox::BindOptions options;
                options.v6_only = v6only;
                const int expected = v6only ? r.v6only : r.dual_stack;
                const int kernel = sb.bind(kBob, proto, "::", r.port, options);
                EXPECT_EQ(sb.bind(kAlice, proto, "::", r.port, options), 0) << "the owner binds it";
                if (v6only && !reads) {
                    // The documented fallback: without the flag, dual-stack.
                    EXPECT_EQ(kernel, r.dual_stack) << "an engine that cannot read IPV6_V6ONLY";
                    continue;
                }
                EXPECT_EQ(kernel, expected);
                auto c = check(spec, v6only);
                EXPECT_EQ(c.status, expected == 0 ? 0 : 1) << c.out << c.err;
                EXPECT_NE(c.out.find(v6only ? "stack:      v6-only" : "stack:      dual-stack"), std::string::npos) << c.out;
                EXPECT_NE(c.out.find("cannot read IPV6_V6ONLY"), std::string::npos) << c.out;
            }
        }
    }
}

TEST_F(V6only, CheckJsonSaysHowItAsked) {
    auto v6 = check("tcp/7601@[::]", true, true);
    EXPECT_EQ(v6.status, 0) << v6.out << v6.err;
    EXPECT_NE(v6.out.find("\"v6only\":true"), std::string::npos) << v6.out;
    EXPECT_NE(v6.out.find("\"allowed\":true"), std::string::npos) << v6.out;
    auto dual = check("tcp/7601@[::]", false, true);
    EXPECT_EQ(dual.status, 1) << dual.out << dual.err;
    EXPECT_NE(dual.out.find("\"v6only\":false"), std::string::npos) << dual.out;
    EXPECT_NE(dual.out.find("\"entry\":\"reserve/tcp/7601@127.0.0.1\""), std::string::npos) << dual.out;
}

TEST_F(V6only, CheckRefusesV6onlyWithAnIpv4Address) {
    for (const char* spec : {"tcp/7601@127.0.0.1", "tcp/7601", "udp/7601@[::ffff:127.0.0.1]"}) {
        SCOPED_TRACE(spec);
        auto c = check(spec, true);
        EXPECT_EQ(c.status, 100) << c.out << c.err;
        EXPECT_EQ(c.out, "");
        EXPECT_NE(c.err.find("--v6only"), std::string::npos) << c.err;
        EXPECT_NE(c.err.find(std::string("'") + spec + "'"), std::string::npos) << c.err;
        EXPECT_NE(c.err.find(std::string(spec).find('@') == std::string::npos ? "0.0.0.0" : "127.0.0.1"), std::string::npos) << c.err;
    }
    auto specific = check("tcp/7602@[::1]", true);
    EXPECT_EQ(specific.status, 1) << "--v6only with a specific IPv6 address is allowed, and changes nothing: " << specific.out
                                  << specific.err;
    EXPECT_EQ(specific.out.find("stack:"), std::string::npos) << "only a wildcard has a stack to judge";
}
