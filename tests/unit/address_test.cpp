// Address arithmetic (lib/policy/address.cpp): prefixes, ranges, the
// IPv4-mapped form.
#include <gtest/gtest.h>

#include "policy/model.hpp"
#include "address_literal.hpp"

namespace portauth {
namespace {

TEST(AddressArithmetic, NetworkOfPrefix) {
    EXPECT_TRUE(addr("10.0.0.0").is_network_of_prefix(8));
    EXPECT_FALSE(addr("10.0.0.1").is_network_of_prefix(8));
    EXPECT_TRUE(addr("10.0.0.1").is_network_of_prefix(32));
    EXPECT_TRUE(addr("0.0.0.0").is_network_of_prefix(0));
    EXPECT_FALSE(addr("128.0.0.0").is_network_of_prefix(0));
    EXPECT_TRUE(addr("128.0.0.0").is_network_of_prefix(1));
    EXPECT_TRUE(addr("10.128.0.0").is_network_of_prefix(9));
    EXPECT_FALSE(addr("10.192.0.0").is_network_of_prefix(9));
    EXPECT_TRUE(addr("2001:db8::").is_network_of_prefix(32));
    EXPECT_FALSE(addr("::1").is_network_of_prefix(127));
    EXPECT_TRUE(addr("::1").is_network_of_prefix(128));
}

TEST(AddressArithmetic, RangeOfPrefix) {
    auto r = AddressRange::of_prefix(addr("10.0.0.0"), 8);
    EXPECT_EQ(r.low, addr("10.0.0.0"));
    EXPECT_EQ(r.high, addr("10.255.255.255"));
    r = AddressRange::of_prefix(addr("192.168.4.0"), 23);
    EXPECT_EQ(r.high, addr("192.168.5.255"));
    r = AddressRange::of_prefix(addr("0.0.0.0"), 0);
    EXPECT_EQ(r.high, addr("255.255.255.255"));
    r = AddressRange::of_prefix(addr("1.2.3.4"), 32);
    EXPECT_EQ(r.low, r.high);
    r = AddressRange::of_prefix(addr("2001:db8::"), 33);
    EXPECT_EQ(r.high, addr("2001:db8:7fff:ffff:ffff:ffff:ffff:ffff"));
    EXPECT_TRUE(r.high.bytes[15] == 0xff && r.high.family == AF_INET6);
    EXPECT_TRUE(AddressRange::of_prefix(addr("10.0.0.0"), 8).contains(addr("10.1.2.3")));
    EXPECT_FALSE(AddressRange::of_prefix(addr("10.0.0.0"), 8).contains(addr("11.0.0.0")));
}

TEST(AddressArithmetic, V4Mapped) {
    const Address m = addr("1.2.3.4").v4_mapped();
    EXPECT_EQ(m.family, AF_INET6);
    EXPECT_EQ(m.str(), "::ffff:1.2.3.4");
    EXPECT_EQ(m.str_uncompressed(), "0:0:0:0:0:ffff:102:304");
    EXPECT_EQ(Address::from_v6_bytes(m.bytes.data()), addr("1.2.3.4")) << "normalising gives the IPv4 address back";
}

}  // namespace
}  // namespace portauth
