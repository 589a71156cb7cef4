// portwatch run: the daemon (lib/portwatch/daemon.hpp), logging through spdlog.
#include "commands.hpp"
#include "portwatch/daemon.hpp"

namespace portauth::watch {

int run_daemon(const RunOptions& o) { return run_watch_daemon(o, tool_log()); }

}  // namespace portauth::watch
