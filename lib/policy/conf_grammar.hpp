// The text of portauth.conf: "key = value" lines (blanks around key and value
// do not count), '#' comment lines, within kMaxLineLength per line (the byte
// limit, kMaxConfBytes, is the reader's). One key today:
//   root-exempt = yes|no    uid 0 may bind reserved ports (default yes)
// A key may be set once. Pure: text in, settings or the error.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"
#include "policy/model.hpp"

namespace portauth {

// The settings `content` makes (defaults for what it leaves out). Errors name
// `file_name` and the line: "/etc/portauth/portauth.conf:2: unknown setting
// 'strict' (known: root-exempt)".
Result<PolicySettings> parse_conf(std::string_view content, const std::string& file_name);

}  // namespace portauth
