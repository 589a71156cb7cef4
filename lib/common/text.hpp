// Small helpers for the text of messages and of line-oriented files.
#pragma once

#include <string>
#include <string_view>

namespace portauth {

// 'text' in single quotes, as error messages name what a user wrote.
inline std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

// Without leading and trailing spaces, tabs and carriage returns (a CRLF
// file's '\r' is a blank).
inline std::string_view trim_blanks(std::string_view s) {
    constexpr std::string_view kBlanks = " \t\r";
    const auto first = s.find_first_not_of(kBlanks);
    if (first == std::string_view::npos) return {};
    const auto last = s.find_last_not_of(kBlanks);
    return s.substr(first, last - first + 1);
}

}  // namespace portauth
