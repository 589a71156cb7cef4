// How the tools talk: errors on stderr as "TOOL: message", once, at the edge.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

#include "common/result.hpp"

namespace portauth::cli {

// stderr, plain "portauth: ..." lines; PORTAUTH_DEBUG=1 shows debug detail.
void setup_logging(const char* tool);

inline void report_error(const Error& e) { spdlog::error("{}", e.message()); }

}  // namespace portauth::cli
