// What the command line asked dropto to do: filled by tools/dropto/main.cpp before
// any state changes, then handed to run() whole (the setpriv way).
#pragma once

#include <string>
#include <vector>

namespace portauth::dropto {

// Where the supplementary groups come from.
enum class GroupsSource {
    database,  // getgrouplist(3) for a passwd user; none for a bare numeric uid
    none,      // --no-groups: an empty supplementary list
    list,      // --groups LIST: exactly these
};

struct Options {
    std::string target;                // USER[:GROUP], as given
    std::vector<std::string> command;  // PROGRAM [ARGS...]; never parsed, passed to execvp
    GroupsSource groups_source = GroupsSource::database;
    std::vector<std::string> groups;   // with GroupsSource::list: names or numeric gids
    bool keep_env = false;             // leave HOME, USER and LOGNAME alone
    bool no_new_privs = false;         // PR_SET_NO_NEW_PRIVS before exec
    bool setsid = false;               // a new session without a controlling terminal
    bool clear_bounding_set = false;   // empty the capability bounding set
};

}  // namespace portauth::dropto
