#include <gtest/gtest.h>

#include "common/utc_time.hpp"

namespace portauth {
namespace {

TEST(UtcTime, IsoAndReadableSayTheSameUtcSecond) {
    EXPECT_EQ(utc_iso8601(1714564800), "2024-05-01T12:00:00Z");
    EXPECT_EQ(utc_readable(1714564800), "2024-05-01 12:00:00 UTC");
    EXPECT_EQ(utc_iso8601(0), "1970-01-01T00:00:00Z");
}

}  // namespace
}  // namespace portauth
