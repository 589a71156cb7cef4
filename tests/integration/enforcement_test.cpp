// The kernel enforces grants and reservations: every form, both families,
// TCP and UDP, as numeric test users in a private cgroup.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "sandbox.hpp"

using sandbox::Creds;
using sandbox::Sandbox;

namespace {

const Creds kAlice{51000, 51000, {}};
const Creds kBob{51001, 51001, {}};
const Creds kCarol{51002, 51002, {52000}};   // member of group 52000
const Creds kRoot{0, 0, {}};

class Enforcement : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root (cgroups, BPF)";
    }
    void apply_ok() {
        auto r = sb.apply();
        ASSERT_EQ(r.status, 0) << r.out << r.err;
    }
    Sandbox sb;
};

}  // namespace

TEST_F(Enforcement, ByportGrantLetsItsUserBindPort80WithoutCapability) {
    sb.entry("byport/80", kAlice.uid, 0, 0500);
    EXPECT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 80), EACCES) << "the kernel's own rule before apply";
    apply_ok();
    EXPECT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 80), 0);
    EXPECT_EQ(sb.bind(kAlice, "udp", "127.0.0.1", 80), 0);
    EXPECT_EQ(sb.bind(kAlice, "tcp", "::", 80), 0);
    EXPECT_EQ(sb.bind(kAlice, "udp", "::1", 80), 0);
    EXPECT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 80), EACCES);
    EXPECT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 81), EACCES) << "a grant names one port";
}

TEST_F(Enforcement, GrantsFollowAclsAndGroups) {
    sb.entry("byport/80", 0, 0, 0400, "u:51001:x,m::x");
    sb.entry("byport/81", 0, 52000, 0410);
    sb.entry("byport/82", 0, 0, 0400, "g:52000:x,m::-");   // masked out
    apply_ok();
    EXPECT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 80), 0);
    EXPECT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 80), EACCES);
    EXPECT_EQ(sb.bind(kCarol, "tcp", "0.0.0.0", 81), 0) << "supplementary group";
    EXPECT_EQ(sb.bind(Creds{51003, 52000, {}}, "tcp", "0.0.0.0", 81), 0) << "effective gid";
    EXPECT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 81), EACCES);
    EXPECT_EQ(sb.bind(kCarol, "tcp", "0.0.0.0", 82), EACCES) << "the ACL mask removes x";
}

TEST_F(Enforcement, ByaddrFormsAndTheirOrder) {
    sb.entry("byaddr/127.0.0.1:80", kAlice.uid, 0, 0500);
    sb.entry("byaddr/127.0.0.1,80", kBob.uid, 0, 0500);          // shadowed: authbind tries ':' first
    sb.entry("byaddr/::1,81", kAlice.uid, 0, 0500);
    sb.entry("byaddr/fd00:0:0:0:0:0:0:7,82", kAlice.uid, 0, 0500);  // uncompressed IPv6 form
    sb.entry("byaddr/!127.0.0.1,600", kAlice.uid, 0, 0500);
    apply_ok();
    EXPECT_EQ(sb.bind(kAlice, "tcp", "127.0.0.1", 80), 0);
    EXPECT_EQ(sb.bind(kAlice, "udp", "::ffff:127.0.0.1", 80), 0) << "v4-mapped is the IPv4 address";
    EXPECT_EQ(sb.bind(kBob, "tcp", "127.0.0.1", 80), EACCES);
    EXPECT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 80), EACCES) << "byaddr names one address";
    EXPECT_EQ(sb.bind(kAlice, "tcp", "::1", 81), 0);
    EXPECT_EQ(sb.bind(kAlice, "tcp", "127.0.0.1", 600), 0);
}

TEST_F(Enforcement, ByuidLinesInAllThreeForms) {
    sb.entry("byuid/51000", 0, 0, 0644, "",
             "# web\n127.0.0.0/8,80-81\n\n127.0.0.1-127.0.0.9,82\n0.0.0.0/0:83,84\n::/0,85\n");
    sb.entry("byuid/!51000", 0, 0, 0644, "", "0.0.0.0/0,600\n");
    apply_ok();
    EXPECT_EQ(sb.bind(kAlice, "tcp", "127.0.0.5", 80), 0);
    EXPECT_EQ(sb.bind(kAlice, "udp", "127.0.0.5", 81), 0);
    EXPECT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 80), EACCES) << "0.0.0.0 is outside 127/8";
    EXPECT_EQ(sb.bind(kAlice, "tcp", "127.0.0.9", 82), 0);
    EXPECT_EQ(sb.bind(kAlice, "tcp", "127.0.0.10", 82), EACCES);
    EXPECT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 84), 0);
    EXPECT_EQ(sb.bind(kAlice, "tcp", "::", 85), 0);
    EXPECT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 85), EACCES) << "an IPv6 line does not cover IPv4";
    EXPECT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 600), 0) << "byuid/!UID for 512-1023";
    EXPECT_EQ(sb.bind(kBob, "tcp", "127.0.0.5", 80), EACCES);
}

TEST_F(Enforcement, ReservationRefusesEveryoneButItsOwners) {
    sb.entry("reserve/udp/5060", 0, 0, 0400, "u:51000:x,g:52000:x,m::x");
    apply_ok();
    for (const char* addr : {"0.0.0.0", "127.0.0.1", "::", "::1", "::ffff:127.0.0.1"}) {
        EXPECT_EQ(sb.bind(kBob, "udp", addr, 5060), EACCES) << addr;
        EXPECT_EQ(sb.bind(kAlice, "udp", addr, 5060), 0) << addr;
        EXPECT_EQ(sb.bind(kCarol, "udp", addr, 5060), 0) << addr;
    }
    EXPECT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 5060), 0) << "tcp/5060 is not reserved";
    EXPECT_EQ(sb.bind(kBob, "udp", "0.0.0.0", 5061), 0);
    EXPECT_EQ(sb.bind(kRoot, "udp", "0.0.0.0", 5060), 0) << "uid 0 is exempt by default";
}

TEST_F(Enforcement, AddressSpecificReservationAndWildcardBinds) {
    sb.entry("reserve/tcp/7000@127.0.0.1", 0, 0, 0400, "u:51000:x,m::x");
    apply_ok();
    EXPECT_EQ(sb.bind(kBob, "tcp", "127.0.0.1", 7000), EACCES);
    EXPECT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 7000), EACCES) << "a wildcard bind takes every address";
    EXPECT_EQ(sb.bind(kBob, "tcp", "::", 7000), EACCES) << "a dual-stack wildcard takes the IPv4 ones";
    EXPECT_EQ(sb.bind(kBob, "tcp", "127.0.0.2", 7000), 0);
    EXPECT_EQ(sb.bind(kBob, "tcp", "::1", 7000), 0);
    EXPECT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 7000), 0);
}

TEST_F(Enforcement, StrictPolicyRemovesRootExemption) {
    sb.entry("reserve/tcp/7001", 0, 0, 0400, "u:51000:x,m::x");
    sb.entry("portauth.conf", 0, 0, 0644, "", "root-exempt = no\n");
    apply_ok();
    EXPECT_EQ(sb.bind(kRoot, "tcp", "0.0.0.0", 7001), EACCES);
    EXPECT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 7001), 0);
}

TEST_F(Enforcement, OwnerOfReservedPrivilegedPortNeedsNoCapability) {
    sb.entry("reserve/tcp/443", 0, 0, 0400, "u:51000:x,m::x");
    apply_ok();
    EXPECT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 443), 0);
    EXPECT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 443), EACCES);
}

TEST_F(Enforcement, PortRangeReservation) {
    sb.entry("reserve/tcp/7100-7199", 0, 0, 0400, "u:51000:x,m::x");
    apply_ok();
    EXPECT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 7100), EACCES);
    EXPECT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 7199), EACCES);
    EXPECT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 7200), 0);
    EXPECT_EQ(sb.bind(kAlice, "tcp", "0.0.0.0", 7150), 0);
}

TEST_F(Enforcement, UnusualBindFormsAreSeen) {
    sb.entry("reserve/tcp/7300", 0, 0, 0400, "u:51000:x,m::x");
    apply_ok();
    sandbox::BindOptions unspec;
    unspec.unspec_family = true;
    EXPECT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 7300, unspec), EACCES) << "AF_UNSPEC with INADDR_ANY";
    sandbox::BindOptions v6only;
    v6only.v6_only = true;
    EXPECT_EQ(sb.bind(kBob, "tcp", "::", 7300, v6only), EACCES) << "a reservation on every address covers IPv6";
    sandbox::BindOptions mptcp;
    mptcp.protocol = 262;   // IPPROTO_MPTCP
    const int r = sb.bind(kBob, "tcp", "0.0.0.0", 7300, mptcp);
    if (r != EPROTONOSUPPORT && r != EINVAL) {
        EXPECT_EQ(r, EACCES) << "MPTCP uses TCP's ports";
    }
}

TEST_F(Enforcement, OnlyTheNetworkNamespaceOfTheApplyIsGoverned) {
    sb.entry("reserve/tcp/7400", 0, 0, 0400, "u:51000:x,m::x");
    apply_ok();
    sandbox::BindOptions other_ns;
    other_ns.new_netns = true;
    EXPECT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 7400), EACCES);
    EXPECT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 7400, other_ns), 0);
}

TEST_F(Enforcement, EnforcementOutlivesTheLoaderAndUnloadEndsIt) {
    sb.entry("reserve/tcp/7500", 0, 0, 0400, "u:51000:x,m::x");
    apply_ok();   // the loader has exited by now; only pins hold the program
    EXPECT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 7500), EACCES);
    auto st = sb.portauth({"status"});
    EXPECT_EQ(st.status, 0) << st.out << st.err;
    EXPECT_NE(st.out.find("reserve/tcp/7500"), std::string::npos) << st.out;
    auto un = sb.portauth({"unload"});
    EXPECT_EQ(un.status, 0) << un.err;
    EXPECT_EQ(sb.bind(kBob, "tcp", "0.0.0.0", 7500), 0);
    EXPECT_EQ(sb.portauth({"status"}).status, 1);
}
