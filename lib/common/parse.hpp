// Checked parsers for numbers that come from users and files. No atoi, no strtol:
// every character must belong to the number and the value must be in range.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace portauth {

// Decimal digits only (no sign, no spaces, no leading '+'); nullopt on overflow
// past `max` or any stray character. "0" is accepted, "" is not.
std::optional<uint64_t> parse_decimal(std::string_view text, uint64_t max);

// Hexadecimal digits only (0-9, a-f, A-F; no "0x", no sign, no spaces);
// nullopt on overflow past `max` or any stray character. "" is refused.
std::optional<uint64_t> parse_hex(std::string_view text, uint64_t max);

// A port a user may name: 1..65535. Rejects 0, 65536, "80x", "", "+80", " 80".
std::optional<uint16_t> parse_port(std::string_view text);

// A uid or gid: 0..4294967294 (4294967295 is (uid_t)-1, never a real id).
std::optional<uint32_t> parse_id(std::string_view text);

}  // namespace portauth
