// Times for people and programs, always in UTC.
#pragma once

#include <cstdint>
#include <string>

namespace portauth {

// "2024-05-01T12:30:15Z" (ISO 8601, what JSON carries beside epoch seconds).
std::string utc_iso8601(int64_t seconds);
// "2024-05-01 12:30:15 UTC" (what text output shows).
std::string utc_readable(int64_t seconds);

}  // namespace portauth
