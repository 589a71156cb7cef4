// Limits on what the policy tree may hold (docs/policy-tree.md); exceeding
// one is an error naming the file. The loader (tree.hpp) and the grammars of
// the files' text (byuid_grammar.hpp, conf_grammar.hpp) enforce them.
#pragma once

#include <cstddef>

namespace portauth {

inline constexpr size_t kMaxTreeEntries = 200000;          // files and dirs, all levels
inline constexpr size_t kMaxUidFileBytes = 1024 * 1024;    // one byuid file
inline constexpr size_t kMaxUidFileLines = 10000;          // one byuid file
inline constexpr size_t kMaxLineLength = 512;              // byuid and portauth.conf lines, without '\n'
inline constexpr size_t kMaxConfBytes = 64 * 1024;         // portauth.conf

}  // namespace portauth
