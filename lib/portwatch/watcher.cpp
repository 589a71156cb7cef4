#include "portwatch/watcher.hpp"

#include <algorithm>

#include "policy/spec.hpp"
#include "portwatch/commands.hpp"

namespace portauth::watch {

namespace {

EventRecord record_for(const Squatter& q, int64_t now) {
    EventRecord r;
    r.kind = "squat";
    r.proto = proto_name(q.socket.proto);
    r.addr = q.socket.addr.str();
    r.port = q.socket.port;
    r.uid = q.socket.uid;
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

void run_hook_for(const EventRecord& rec, const WatchSettings& s, std::optional<Error>& error, std::optional<int>& status) {
    if (!s.exec) return;
    auto r = run_hook(*s.exec, hook_environment(rec), s.hook_timeout_ms);
    if (r) status = *r;
    else error = r.error();
}

}  // namespace

Result<WatchSettings> settings_from(const ScanOptions& o) {
    WatchSettings s;
    auto action = parse_action(o.action);
    if (!action) return action.error();
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
    return s;
}

std::map<std::string, std::string> hook_environment(const EventRecord& rec) {
    return {{"PORTWATCH_KIND", rec.kind},
            {"PORTWATCH_PROTO", rec.proto},
            {"PORTWATCH_ADDR", rec.addr},
            {"PORTWATCH_PORT", std::to_string(rec.port)},
            {"PORTWATCH_UID", std::to_string(rec.uid)},
            {"PORTWATCH_USER", rec.user},
            {"PORTWATCH_PID", rec.pids.substr(0, rec.pids.find(','))},
            {"PORTWATCH_COMM", rec.comm},
            {"PORTWATCH_ENTRY", rec.entry},
            {"PORTWATCH_ACTION", rec.action},
            {"PORTWATCH_ACTION_RESULT", rec.action_result}};
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

PassOutcome handle_scan(Database* db, ScanResult scan, const WatchSettings& settings, SquatMemory& memory) {
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
        const auto known = memory.find(squat_key(o.record));
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
        // Act on a new squat, and on an old one only logged so far (a cron
        // job that starts with --action after a while of plain scans).
        if (settings.action != Action::log && (o.is_new || o.record.action == "log")) {
            std::string result;
            if (settings.action == Action::destroy) {
                auto st = destroy_socket(q.socket);
                result = st ? "destroyed" : "failed: " + st.error().message();
                // The kernel aborts the socket (a listener stops accepting, a
                // UDP socket gets ECONNABORTED) but keeps an explicitly bound
                // port until its owner closes the socket: say so.
                if (st) {
                    auto again = dump_sockets(q.socket.proto, {{q.socket.port, q.socket.port}});
                    if (again && std::any_of(again->begin(), again->end(), [&](const SocketInfo& s) { return s.inode == q.socket.inode; }))
                        result += "; the port stays bound until the process closes the socket";
                }
            } else {
                if (q.processes.empty()) result = "failed: no process holds the socket any more";
                for (const auto& p : q.processes) {
                    auto k = kill_holder(p.pid, q.socket.inode, settings.grace_ms);
                    result += (result.empty() ? "" : "; ") + std::string("pid ") + std::to_string(p.pid) + " " +
                              (k ? *k : "failed: " + k.error().message());
                }
            }
            o.action_result = result;
            o.record.action = action_name(settings.action);
            o.record.action_result = result;
            if (db && o.recorded)
                if (auto st = db->set_action(o.record.id, o.record.action, result); !st) record_failed(st.error());
        }
        if (o.is_new) run_hook_for(o.record, settings, o.hook_error, o.hook_status);
        handled[squat_key(o.record)] = HandledSquat{o.record.first_seen, o.record.action, o.record.action_result};
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

RefusalOutcome handle_refusal(Database* db, const RefusalEvent& e, const WatchSettings& settings) {
    RefusalOutcome out;
    EventRecord& r = out.record;
    r.kind = "refused";
    r.proto = proto_name(e.proto);
    r.addr = e.addr.str();
    r.port = e.port;
    r.uid = e.uid;
    r.user = user_principal(e.uid).name;
    r.pids = std::to_string(e.pid);
    r.comm = e.comm;
    auto p = read_process(e.pid);   // best effort: the process may be gone
    r.exe = p.exe;
    r.cmdline = p.cmdline;
    r.entry = e.entry;
    r.first_seen = r.last_seen = now_ms();
    r.action = "log";
    if (db) {
        auto st = db->record_refused(r);
        out.recorded = static_cast<bool>(st);
        if (!st) out.record_error = st.error();
    }
    run_hook_for(r, settings, out.hook_error, out.hook_status);
    return out;
}

}  // namespace portauth::watch
