// How the tools talk: errors on stderr as "TOOL: message", once, at the edge.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/journal.hpp"

#include "common/result.hpp"

namespace portauth::cli {

// stderr, plain "portauth: ..." lines; PORTAUTH_DEBUG=1 shows debug detail.
void setup_logging(const char* tool);

inline void report_error(const Error& e) { spdlog::error("{}", e.message()); }

// An event a log pipeline keys on (docs/journal.md): `message` said on
// stderr at the level of `priority`, and sent to the journal with
// MESSAGE_ID, PORTAUTH_EVENT=event and `fields`. Under systemd, where stderr
// is the journal already, said once.
void announce(Priority priority, const char* event, const std::string& message, const std::vector<JournalField>& fields);
// The same for a line the caller prints on stdout (apply's summary): sent to
// the journal; true when the caller should print it (stdout is not the journal
// stream, or the journal did not take it).
bool announce_stdout(Priority priority, const char* event, const std::string& message, const std::vector<JournalField>& fields);

// Seconds since the Epoch as "2024-05-01 12:00:00 UTC".
std::string format_utc(int64_t seconds);

}  // namespace portauth::cli
