// The text of byuid/UID and byuid/!UID: authbind's per-user grants, one per
// line, in authbind's three forms (docs/policy-tree.md):
//   addrmin[-addrmax],portmin[-portmax]     10.0.0.1-10.0.0.9,600-700   ::1,80
//   addr[/length],portmin[-portmax]         10.0.0.0/8,80               ::/0,80
//   addr4/length:portmin,portmax            192.168.0.0/16:5000,5010
// Blanks around the parts are allowed; '#' starts a comment line only at the
// start of a line. An address is anything inet_pton accepts, without
// brackets; an IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) means the IPv4
// prefix (10.0.0.0/8). Ports are 1-65535. Pure: text in, lines or the error.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "policy/model.hpp"

namespace portauth {

// One line, without the blanks around it (not blank, not a comment). The
// error names no file or line, e.g. "port range 90-80 is backwards (write
// 80-90)"; origin is left empty.
Result<UidGrantLine> parse_uid_line(std::string_view line);

// A whole file's text, within kMaxUidFileLines and kMaxLineLength (the byte
// limit, kMaxUidFileBytes, is the reader's). Each line's origin has its line
// number and no file (the caller names the entry). Errors name `file_name`
// and the line: "/etc/portauth/byuid/1001:3: '80x' is not a port number (1-65535)".
Result<std::vector<UidGrantLine>> parse_uid_file(std::string_view content, const std::string& file_name);

}  // namespace portauth
