// The program variants a kernel's probes choose, each forced on this kernel
// with PORTAUTH_BPF_WITHOUT: every optional feature withheld is said by apply
// and status and keeps the decisions (only the errno of a refusal changes,
// without bpf_set_retval); a required one withheld is one line naming it and
// leaves the enforced policy as it was. The whole integration suite also runs
// against a forced variant (tests/CMakeLists.txt: integration-noloop-noretval.).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include "sandbox.hpp"

using sandbox::Creds;
using sandbox::Sandbox;

namespace {

const Creds kAlice{51000, 51000, {}};   // owns the reservation
const Creds kBob{51001, 51001, {}};     // nothing
const Creds kCarol{51002, 51002, {}};   // granted port 80

// PORTAUTH_BPF_WITHOUT for the tools this test runs, as it was afterwards.
struct WithheldFeatures : sandbox::ScopedEnv {
    explicit WithheldFeatures(const std::string& names) : ScopedEnv("PORTAUTH_BPF_WITHOUT", names) {}
};

struct Optional {
    const char* name;
    const char* said;   // in apply's "this kernel's program runs ..." line and status's program: line
};

const Optional kOptional[] = {
    {"bpf_loop", "without bpf_loop: bounded loops, the same decisions"},
    {"set_retval", "without bpf_set_retval: refused binds fail with EPERM, not EACCES"},
    {"sk_storage", "without socket storage: portwatch judges a socket by its holders"},
    {"v6only", "without IPV6_V6ONLY: every IPv6 wildcard bind counts as dual-stack"},
};

class Variants : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root (cgroups, BPF)";
        sb.emplace();
        sb->entry("reserve/tcp/7610", 0, 0, 0400, "u:51000:x,m::x");
        sb->entry("byport/80", kCarol.uid, 0, 0500);
    }
    std::optional<Sandbox> sb;
};

}  // namespace

TEST_F(Variants, EachWithheldFeatureIsSaidAndTheDecisionsStay) {
    // What this kernel's program lacks of itself (nothing on 6.18 and 6.1).
    std::string baseline;
    {
        WithheldFeatures without("");
        const auto applied = sb->apply();
        ASSERT_EQ(applied.status, 0) << applied.out << applied.err;
        baseline = sandbox::program_lacks(*sb);
    }
    for (const auto& feature : kOptional) {
        SCOPED_TRACE(std::string("without ") + feature.name);
        sandbox::ToolResult applied;
        {
            WithheldFeatures without(feature.name);
            applied = sb->apply();
            ASSERT_EQ(applied.status, 0) << applied.out << applied.err;
        }
        // Said by apply and by status, whoever asks later (the variant is
        // recorded with the pins): the withheld feature, and whatever else the
        // trial load had to leave out (6.1's verifier takes the bounded loops
        // only without socket storage), each in one line.
        const auto status = sb->portauth({"status"});
        const std::string lacks = sandbox::program_lacks(*sb);
        EXPECT_NE(lacks.find(std::string("\"") + feature.name + "\""), std::string::npos) << lacks;
        for (const auto& other : kOptional) {
            const bool missing = lacks.find(std::string("\"") + other.name + "\"") != std::string::npos;
            EXPECT_EQ(applied.out.find(std::string("portauth: this kernel's program runs ") + other.said) != std::string::npos, missing)
                << other.name << "\n" << applied.out;
            EXPECT_EQ(status.out.find(other.said) != std::string::npos, missing) << other.name << "\n" << status.out;
            if (missing && &other != &feature && baseline.find(other.name) == std::string::npos)
                std::cout << "[ note     ] without " << feature.name << ", this kernel's program also lacks " << other.name << "\n";
        }

        // The decisions are the full program's; only the errno of a refusal
        // differs, and only without bpf_set_retval. (bind_as reports the raw
        // errno unless the whole suite runs without bpf_set_retval.)
        const bool eperm = std::string(feature.name) == "set_retval" && !sandbox::refusals_are_eperm();
        EXPECT_EQ(sb->bind(kBob, "tcp", "127.0.0.1", 7610), eperm ? EPERM : EACCES) << "reserved for alice";
        EXPECT_EQ(sb->bind(kAlice, "tcp", "127.0.0.1", 7610), 0) << "the owner binds it";
        EXPECT_EQ(sb->bind(kCarol, "tcp", "0.0.0.0", 80), 0) << "granted";
        EXPECT_NE(sb->bind(kBob, "tcp", "0.0.0.0", 80), 0) << "not granted";
    }
    // And the kernel's own program again: what it lacked at first, no more.
    {
        WithheldFeatures without("");
        const auto applied = sb->apply();
        ASSERT_EQ(applied.status, 0) << applied.err;
        EXPECT_EQ(sandbox::program_lacks(*sb), baseline);
        if (baseline == "\"program_lacks\":[]") {
            EXPECT_EQ(applied.out.find("this kernel's program runs"), std::string::npos) << applied.out;
            EXPECT_NE(sb->portauth({"status"}).out.find("program:       full (every optional kernel feature)"), std::string::npos);
        }
    }
}

TEST_F(Variants, ARequiredFeatureWithheldIsOneLineAndThePolicyStays) {
    {
        WithheldFeatures without("");
        ASSERT_EQ(sb->apply().status, 0);
    }
    sb->entry("reserve/tcp/7611", 0, 0, 0400, "u:51000:x,m::x");
    for (const char* required : {"task_btf", "ringbuf", "netns_cookie"}) {
        SCOPED_TRACE(required);
        WithheldFeatures without(required);
        const auto r = sb->apply();
        EXPECT_NE(r.status, 0);
        EXPECT_NE(r.err.find("portauth: this kernel lacks "), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("(withheld by PORTAUTH_BPF_WITHOUT), which portauth's bind program needs; nothing was loaded"),
                  std::string::npos)
            << r.err;
        EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
    }
    // The policy loaded before is the one enforced: 7610 reserved, 7611 not yet.
    EXPECT_EQ(sb->bind(kBob, "tcp", "127.0.0.1", 7610), EACCES);
    EXPECT_EQ(sb->bind(kBob, "tcp", "127.0.0.1", 7611), 0);
}

TEST_F(Variants, AnUnknownFeatureNameIsRefusedWithTheKnownOnes) {
    WithheldFeatures without("bpf_loop,bpf_lopp");
    const auto r = sb->apply();
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("PORTAUTH_BPF_WITHOUT: unknown feature 'bpf_lopp' (known: task_btf, "), std::string::npos) << r.err;
    EXPECT_NE(sb->portauth({"status"}).status, 0) << "nothing was loaded";
}
