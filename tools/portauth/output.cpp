#include "output.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <cstdlib>

namespace portauth::cli {

void setup_logging(const char* tool) {
    auto logger = spdlog::stderr_logger_st(tool);
    logger->set_pattern(std::string(tool) + ": %v");
    const char* debug = std::getenv("PORTAUTH_DEBUG");
    logger->set_level(debug && *debug && std::string(debug) != "0" ? spdlog::level::debug : spdlog::level::info);
    spdlog::set_default_logger(logger);
}

}  // namespace portauth::cli
