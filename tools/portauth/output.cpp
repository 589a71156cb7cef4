#include "output.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <cstdlib>
#include <ctime>

namespace portauth::cli {

void setup_logging(const char* tool) {
    auto logger = spdlog::stderr_logger_st(tool);
    logger->set_pattern(std::string(tool) + ": %v");
    const char* debug = std::getenv("PORTAUTH_DEBUG");
    logger->set_level(debug && *debug && std::string(debug) != "0" ? spdlog::level::debug : spdlog::level::info);
    spdlog::set_default_logger(logger);
}

std::string format_utc(int64_t seconds) {
    const std::time_t tt = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    if (std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) return std::to_string(seconds);
    return buf;
}

}  // namespace portauth::cli
