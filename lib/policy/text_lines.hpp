// The line layer that byuid files and portauth.conf share: lines end in '\n'
// (a final line without one counts), at most kMaxLineLength characters each,
// no NUL byte; blanks (space, tab, '\r') around a line do not count; a blank
// line or one whose first non-blank character is '#' says nothing. Pure: the
// text comes in, `file_name` only names it in errors, e.g.
//   /etc/portauth/byuid/1001:2: line longer than 512 characters (the limit)
//   /etc/portauth/byuid/1001: more than 10000 lines (the limit)
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace portauth {

// A line that says something: its text without the blanks around it, and
// its number (1-based) for errors and origins.
struct TextLine {
    size_t number = 0;
    std::string_view text;
};

// The lines of `content` that say something, in order. Fails on the first
// line over the limits (which apply to comment lines too), or when there are
// more than `max_lines` lines of any kind.
Result<std::vector<TextLine>> significant_lines(std::string_view content, const std::string& file_name, size_t max_lines);

// "FILE:LINE: what": how the grammars name the line an error is on.
Error line_error(const std::string& file_name, size_t line, const std::string& what);

}  // namespace portauth
