// portwatch scan: one pass, for cron. Kills run in parallel (one grace for
// all holders of all squats); hooks run as in the daemon and are waited for
// (each bounded by --exec-timeout).
#include <spdlog/spdlog.h>

#include "engine/engine.hpp"
#include "policy/tree.hpp"
#include "commands.hpp"
#include "portwatch/policy_source.hpp"
#include "portwatch/daemon.hpp"
#include "portwatch/hook.hpp"
#include "portwatch/watcher.hpp"

namespace portauth::watch {

namespace {

// Lines are escaped where they are made (daemon.cpp); spdlog only prints them.
class SpdlogLog : public WatchLog {
public:
    void debug(const std::string& line) override { spdlog::debug("{}", line); }
    void info(const std::string& line) override { spdlog::info("{}", line); }
    void warn(const std::string& line) override { spdlog::warn("{}", line); }
    void error(const std::string& line) override { spdlog::error("{}", line); }
};

}  // namespace

JournalLog& tool_log() {
    static SpdlogLog lines;
    static JournalLog log(lines, "portwatch");
    return log;
}

int run_scan(const ScanOptions& o) {
    JournalLog& log = tool_log();
    log.set_common_fields({{"PORTAUTH_POLICY_DIR", o.policy_dir}});
    auto settings = settings_from(o);
    if (!settings) {
        log.error(settings.error().message());
        return kExitError;
    }
    auto watched = load_watched_policy(o.policy_dir, default_pin_dir());
    if (!watched) {
        log.error(watched.error().message());
        return kExitError;
    }
    if (watched->tree_refused) log.warn(watched->note);
    const Policy* policy = &watched->policy;
    auto db = Database::open(o.db, write_options(*settings, true));
    if (!db && record_damaged(db.error())) {   // never written to: the admin moves it aside
        log.error(db.error().message());
        return kExitError;
    }
    constexpr const char* kNotRecorded = "scanning all the same: squatters are reported here, not recorded";
    if (!db) log.event(database_error_event(o.db, db.error().message(), db.error().message() + "; " + kNotRecorded));
    auto result = scan(*policy);
    if (!result) {
        log.error("cannot scan: " + result.error().message());
        return kExitError;
    }
    if (result->skipped) log.debug("no reservations in '" + o.policy_dir + "': nothing to scan");
    SquatMemory memory;
    Database* record = db ? &*db : nullptr;
    auto pass = handle_scan(record, std::move(*result), *settings, memory);
    if (pass.record_error) {
        log.event(database_error_event(o.db, pass.record_error->message(), pass.record_error->message() + "; " + kNotRecorded));
        record = nullptr;
    }
    log_pass(pass, log);

    std::vector<KillJob> jobs;
    std::vector<SquatOutcome*> killed;
    for (auto& q : pass.squats) {
        if (!q.wants_kill) continue;
        std::vector<uint32_t> pids;
        for (const auto& p : q.squatter.processes) pids.push_back(p.pid);
        jobs.emplace_back(q.squatter.socket.inode, pids, settings->grace_ms);
        killed.push_back(&q);
    }
    run_kill_jobs(jobs);
    bool record_ok = !pass.record_error;
    for (size_t i = 0; i < jobs.size(); ++i) {
        auto& q = *killed[i];
        q.record.action = "kill";
        q.record.action_result = jobs[i].result();
        log.event(action_event(q.record, "kill", jobs[i].result()));
        if (auto st = record_action(record, memory, squat_key(q.record), "kill", jobs[i].result()); !st) {
            log.event(database_error_event(o.db, st.error().message(), st.error().message() + "; " + kNotRecorded));
            record = nullptr;
            record_ok = false;
        }
    }
    if (settings->exec) {
        HookRunner hooks(HookSettings{*settings->exec, settings->hook_timeout_ms});
        for (const auto& q : pass.squats)
            if (q.is_new) hooks.submit(squat_key(q.record), hook_environment(q.record), 1, describe(q.record));
        std::vector<HookFinished> done;
        hooks.wait_all(done);
        for (const auto& f : done) log_hook(f, log);
    }
    if (!pass.squats.empty()) return kExitSquatters;
    return db && record_ok ? kExitClean : kExitError;
}

}  // namespace portauth::watch
