// Small helpers for the names of files and directories.
#pragma once

#include <dirent.h>

#include <memory>
#include <string>
#include <string_view>

namespace portauth {

// `dir` + "/" + `name`, without doubling the slash when `dir` ends in one ("/").
inline std::string join_path(const std::string& dir, std::string_view name) {
    if (!dir.empty() && dir.back() == '/') return dir + std::string(name);
    return dir + "/" + std::string(name);
}

// An open directory stream (opendir, fdopendir), closed by its owner.
struct DirCloser {
    void operator()(DIR* d) const { closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

}  // namespace portauth
