#include "common/utc_time.hpp"

#include <ctime>

namespace portauth {

namespace {

// The decimal seconds when the time cannot be broken down (out of range).
std::string format(int64_t seconds, const char* layout) {
    const std::time_t tt = static_cast<std::time_t>(seconds);
    std::tm tm{};
    if (!gmtime_r(&tt, &tm)) return std::to_string(seconds);
    char buf[64];
    if (std::strftime(buf, sizeof buf, layout, &tm) == 0) return std::to_string(seconds);
    return buf;
}

}  // namespace

std::string utc_iso8601(int64_t seconds) { return format(seconds, "%Y-%m-%dT%H:%M:%SZ"); }

std::string utc_readable(int64_t seconds) { return format(seconds, "%Y-%m-%d %H:%M:%S UTC"); }

}  // namespace portauth
