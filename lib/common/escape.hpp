// Strings that came from another process (comm, exe, cmdline, user names,
// file names an attacker chose) made safe for each kind of output. One
// function per output kind; every such string passes through one of them
// before it is printed, logged or serialised (docs/portwatch.md, "Untrusted
// text").
//
// The escape (the same in every output, like ps(1) and systemd):
//   - valid UTF-8 printable characters stay as they are;
//   - a backslash becomes "\\";
//   - control characters (C0, DEL, C1 U+0080-U+009F) and every byte that is
//     not part of valid UTF-8 become "\xNN" (two lowercase hex digits);
//   - the result is cut at `max_bytes` (at a character boundary) with "..."
//     appended when anything was cut.
// So the output is always valid UTF-8 with no control characters, and the
// original bytes can be recovered from it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace portauth {

inline constexpr size_t kMaxUntrustedBytes = 4096;   // the cap on write and on read

// For terminals, logs, tables and the hook's environment.
std::string escape_untrusted(std::string_view raw, size_t max_bytes = kMaxUntrustedBytes);

// For a CSV cell (RFC 4180): escape_untrusted, then a leading '=', '+', '-',
// '@' (a spreadsheet formula) gets a "'" in front, then the cell is quoted
// when it holds ',', '"' or a space, with '"' doubled.
std::string csv_cell(std::string_view raw, size_t max_bytes = kMaxUntrustedBytes);
// The same for a cell that is already escaped: the formula guard and the quoting only.
std::string csv_quote(std::string cell);

// True when `s` is valid UTF-8 (JsonWriter uses it to escape what is not).
bool valid_utf8(std::string_view s);

}  // namespace portauth
