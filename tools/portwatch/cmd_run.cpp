// portwatch run: the daemon (lib/portwatch/daemon.hpp), logging through spdlog.
#include "commands.hpp"
#include "portwatch/daemon.hpp"

namespace portauth::watch {

int run_daemon(const RunOptions& o) {
    JournalLog& log = tool_log();
    log.set_common_fields({{"PORTAUTH_POLICY_DIR", o.scan.policy_dir}, {"PORTAUTH_PIN_DIR", o.pin_dir}});
    return run_watch_daemon(o, log);
}

}  // namespace portauth::watch
