// How the tools talk: errors on stderr as "TOOL: message", once, at the edge.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string>

#include "common/result.hpp"

namespace portauth::cli {

// stderr, plain "portauth: ..." lines; PORTAUTH_DEBUG=1 shows debug detail.
void setup_logging(const char* tool);

inline void report_error(const Error& e) { spdlog::error("{}", e.message()); }

// Seconds since the Epoch as "2024-05-01 12:00:00 UTC".
std::string format_utc(int64_t seconds);

}  // namespace portauth::cli
