#include "portwatch/watcher.hpp"

#include <algorithm>
#include <cstdio>

#include "common/escape.hpp"
#include "common/parse.hpp"
#include "common/user_database.hpp"
#include "policy/spec.hpp"
#include "portwatch/options.hpp"

namespace portauth::watch {

namespace {

EventRecord record_for(const Squatter& q, int64_t now) {
    EventRecord r;
    r.kind = "squat";
    r.proto = proto_name(q.socket.proto);
    r.addr = q.socket.addr.str();
    r.port = q.socket.port;
    r.uid = q.uid;   // the identity judged (scanner.hpp), not always the socket's creator
    r.identity = q.identity;
    r.user = q.user;
    r.inode = q.socket.inode;
    r.entry = q.entry;
    for (const auto& p : q.processes) r.pids += (r.pids.empty() ? "" : ",") + std::to_string(p.pid);
    if (!q.processes.empty()) {
        r.comm = q.processes.front().comm;
        r.exe = q.processes.front().exe;
        r.cmdline = q.processes.front().cmdline;
    }
    r.first_seen = r.last_seen = now;
    return r;
}

Result<uint32_t> resolve_group(const std::string& text) {
    auto g = find_group(text, system_user_database());
    if (!g) return Error{g.error().err, "--db-group: " + g.error().what};
    return g->gid;
}

}  // namespace

Result<WatchSettings> settings_from(const ScanOptions& o) {
    WatchSettings s;
    auto action = parse_action(o.action);
    if (!action) return logic_error("--action " + action.error().what);
    s.action = *action;
    if (o.grace_seconds < 0 || o.grace_seconds > kMaxGraceSeconds)
        return logic_error("--grace " + std::to_string(o.grace_seconds) + ": out of range 0-" + std::to_string(kMaxGraceSeconds));
    s.grace_ms = o.grace_seconds * 1000;
    if (o.hook_timeout_seconds < 1 || o.hook_timeout_seconds > kMaxHookSeconds)
        return logic_error("--exec-timeout " + std::to_string(o.hook_timeout_seconds) + ": out of range 1-" + std::to_string(kMaxHookSeconds));
    s.hook_timeout_ms = o.hook_timeout_seconds * 1000;
    if (o.exec && o.exec->empty()) return logic_error("--exec: empty command");
    s.exec = o.exec;
    if (o.retention_days < 1 || o.retention_days > kMaxRetentionDays)
        return logic_error("--retention-days " + std::to_string(o.retention_days) + ": out of range 1-" + std::to_string(kMaxRetentionDays));
    s.retention_days = o.retention_days;
    if (o.db_group) {
        auto g = resolve_group(*o.db_group);
        if (!g) return g.error();
        s.db_group = *g;
    }
    return s;
}

Result<WatchSettings> settings_from(const RunOptions& o) {
    auto s = settings_from(o.scan);
    if (!s) return s;
    // NaN fails both comparisons.
    if (!(o.interval_seconds >= kMinIntervalSeconds && o.interval_seconds <= kMaxIntervalSeconds))
        return logic_error("--interval " + seconds_text(o.interval_seconds) + ": out of range " + seconds_text(kMinIntervalSeconds) + "-" +
                           std::to_string(kMaxIntervalSeconds));
    return s;
}

std::map<std::string, std::string> hook_environment(const EventRecord& rec) {
    return {{"PORTWATCH_KIND", rec.kind},
            {"PORTWATCH_PROTO", rec.proto},
            {"PORTWATCH_ADDR", rec.addr},
            {"PORTWATCH_PORT", std::to_string(rec.port)},
            {"PORTWATCH_UID", std::to_string(rec.uid)},
            {"PORTWATCH_USER", escape_untrusted(rec.user)},
            {"PORTWATCH_PID", rec.pids.substr(0, rec.pids.find(','))},
            {"PORTWATCH_COMM", escape_untrusted(rec.comm)},
            {"PORTWATCH_EXE", escape_untrusted(rec.exe)},
            {"PORTWATCH_ENTRY", escape_untrusted(rec.entry)},
            {"PORTWATCH_ACTION", rec.action},
            {"PORTWATCH_ACTION_RESULT", escape_untrusted(rec.action_result)},
            {"PORTWATCH_IDENTITY", rec.identity},
            {"PORTWATCH_FIRST_SEEN", std::to_string(rec.first_seen)},
            {"PORTWATCH_LAST_SEEN", std::to_string(rec.last_seen)}};
}

std::string seconds_text(double seconds) {
    char buf[32];
    (void)std::snprintf(buf, sizeof buf, "%g", seconds);
    return buf;
}

std::string describe(const EventRecord& rec) {
    std::string s = rec.proto + "/" + std::to_string(rec.port);
    if (rec.addr != "0.0.0.0" && rec.addr != "::") s += "@" + (rec.addr.find(':') != std::string::npos ? "[" + rec.addr + "]" : rec.addr);
    s += " uid " + std::to_string(rec.uid);
    if (!rec.pids.empty()) s += " (pid " + rec.pids + ")";
    return s;
}

std::string squat_key(const EventRecord& rec) {
    return rec.proto + "/" + rec.addr + "/" + std::to_string(rec.port) + "/" + std::to_string(rec.uid) + "/" + std::to_string(rec.inode);
}

Status record_action(Database* db, SquatMemory& memory, const std::string& key, const std::string& action, const std::string& result) {
    auto it = memory.find(key);
    if (it == memory.end()) return {};
    it->second.action = action;
    it->second.action_result = result;
    if (db && it->second.id != 0) return db->set_action(it->second.id, action, result);
    return {};
}

PassOutcome handle_scan(Database* db, ScanResult scan, const WatchSettings& settings, SquatMemory& memory, const std::set<std::string>& busy) {
    PassOutcome out;
    SquatMemory handled;
    const int64_t now = now_ms();
    // After the first failed write, the rest of the pass records nothing.
    auto record_failed = [&](const Error& e) {
        out.record_error = e;
        db = nullptr;
    };
    for (auto& q : scan.squatters) {
        SquatOutcome o;
        o.squatter = q;
        o.record = record_for(q, now);
        const std::string key = squat_key(o.record);
        const auto known = memory.find(key);
        const HandledSquat* before = known == memory.end() ? nullptr : &known->second;
        if (before) o.record.first_seen = before->first_seen;
        bool new_row = false;
        if (db) {
            auto is_new = db->record_squat(o.record);   // an old row fills in first_seen and the action
            if (is_new) {
                o.recorded = true;
                new_row = *is_new;
            } else {
                record_failed(is_new.error());
            }
        }
        // New to the record and to this process; a squat this process handled
        // while the record could not be written gets its action back into the new row.
        o.is_new = !before && (new_row || !o.recorded);
        if (before && (new_row || !o.recorded)) {
            o.record.action = before->action;
            o.record.action_result = before->action_result;
            if (db && new_row && before->action != "log")
                if (auto st = db->set_action(o.record.id, o.record.action, o.record.action_result); !st) record_failed(st.error());
        }
        HandledSquat h{o.record.first_seen, o.record.action, o.record.action_result, o.recorded ? o.record.id : 0,
                       before ? before->rounds : 0};
        // While the squat persists, every pass acts again with the configured action.
        if (settings.action != Action::log && !busy.count(key)) {
            ++h.rounds;
            if (settings.action == Action::destroy) {
                auto st = destroy_socket(q.socket);
                std::string result = st ? "destroyed" : "failed: " + st.error().message();
                // The kernel aborts the socket (a listener stops accepting, a
                // UDP socket gets ECONNABORTED) but keeps an explicitly bound
                // port until its owner closes the socket: say so.
                if (st) {
                    auto again = dump_sockets(q.socket.proto, {{q.socket.port, q.socket.port}});
                    if (again && std::any_of(again->begin(), again->end(), [&](const SocketInfo& s) { return s.inode == q.socket.inode; }))
                        result += "; the port stays bound until the process closes the socket";
                }
                o.result_changed = result != o.record.action_result || o.record.action != "destroy";
                o.action_result = result;
                o.record.action = "destroy";
                o.record.action_result = result;
                if (db && o.recorded && o.result_changed)
                    if (auto st2 = db->set_action(o.record.id, o.record.action, result); !st2) record_failed(st2.error());
            } else {
                o.wants_kill = true;
            }
        }
        h.action = o.record.action;
        h.action_result = o.record.action_result;
        handled[key] = h;
        out.squats.push_back(std::move(o));
    }
    memory = std::move(handled);
    out.scan = std::move(scan);
    if (db) {
        auto pruned = db->prune(now - int64_t{settings.retention_days} * 86'400'000);
        if (pruned) out.pruned = *pruned;
        else record_failed(pruned.error());
    }
    return out;
}

}  // namespace portauth::watch
