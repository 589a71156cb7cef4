#include "portwatch/journal_events.hpp"

#include "common/escape.hpp"
#include "portwatch/aggregate.hpp"

namespace portauth::watch {

namespace {

// The fields an event of the record has: what was bound, by whom, against which entry.
std::vector<JournalField> record_fields(const EventRecord& r) {
    std::vector<JournalField> f = {
        {"PORTAUTH_PROTO", r.proto},
        {"PORTAUTH_ADDR", r.addr},
        {"PORTAUTH_PORT", std::to_string(r.port)},
        {"PORTAUTH_UID", std::to_string(r.uid)},
        {"PORTAUTH_USER", escape_untrusted(r.user)},
        {"PORTAUTH_COMM", escape_untrusted(r.comm)},
        {"PORTAUTH_ENTRY", escape_untrusted(r.entry)},
    };
    if (!r.pids.empty()) {
        f.push_back({"PORTAUTH_PID", r.pids.substr(0, r.pids.find(','))});
        f.push_back({"PORTAUTH_PIDS", r.pids});
    }
    if (!r.exe.empty()) f.push_back({"PORTAUTH_EXE", escape_untrusted(r.exe)});
    return f;
}

WatchEvent make(Priority priority, const char* event, std::string message, std::vector<JournalField> fields) {
    WatchEvent e{priority, event, std::move(message), {{"MESSAGE_ID", watch_message_id(event)}, {"PORTAUTH_EVENT", event}}};
    e.fields.insert(e.fields.end(), std::make_move_iterator(fields.begin()), std::make_move_iterator(fields.end()));
    return e;
}

}  // namespace

void WatchLog::event(const WatchEvent& e) {
    switch (e.priority) {
        case Priority::emerg:
        case Priority::alert:
        case Priority::crit:
        case Priority::err: error(e.message); break;
        case Priority::warning: warn(e.message); break;
        case Priority::notice:
        case Priority::info: info(e.message); break;
        case Priority::debug: debug(e.message); break;
    }
}

const char* watch_message_id(std::string_view event) {
    if (event == kEventSquat) return "02a0613bcef543389a5906e1dc635c55";
    if (event == kEventBindRefused) return "fa67798b41fa4cfe8d0ee016cbf44ded";
    if (event == kEventAction) return "843b16fa9f0f461ba3a208b3d824aa83";
    if (event == kEventDatabaseError) return "af024dc5e3d848f092816c5fb9f2bf7c";
    if (event == kEventDatabaseRecovered) return "0fcfe2791faa417b88662323a9116632";
    return "95b262eff6124146b2cfcc89d8c44a71";   // kEventSuppressed
}

WatchEvent squat_event(const SquatOutcome& o) {
    const auto& r = o.record;
    auto f = record_fields(r);
    f.push_back({"PORTAUTH_INODE", std::to_string(r.inode)});
    f.push_back({"PORTAUTH_IDENTITY", r.identity.empty() ? std::string("socket") : r.identity});
    f.push_back({"PORTAUTH_RECORDED", o.recorded ? "1" : "0"});
    return make(Priority::warning, kEventSquat,
                "squatter: " + describe(r) + " user " + escape_untrusted(r.user) + " comm '" + escape_untrusted(r.comm) + "' exe '" +
                    escape_untrusted(r.exe) + "' on " + escape_untrusted(r.entry) + " (" + (o.recorded ? "first seen" : "not recorded") +
                    "), judged by the " + (r.identity.empty() ? std::string("socket") : r.identity),
                std::move(f));
}

WatchEvent refusal_event(const EventRecord& r, bool recorded) {
    auto f = record_fields(r);
    f.push_back({"PORTAUTH_KIND", r.kind});
    f.push_back({"PORTAUTH_RECORDED", recorded ? "1" : "0"});
    f.push_back({"PORTAUTH_WINDOW_SECONDS", std::to_string(kAggregationWindowMs / 1000)});
    return make(Priority::warning, kEventBindRefused,
                "refused bind" + std::string(r.kind == "grant_miss" ? " (grant miss)" : "") + ": " + describe(r) + " user " +
                    escape_untrusted(r.user) + " comm '" + escape_untrusted(r.comm) + "' by " +
                    (r.entry.empty() ? std::string("the policy") : escape_untrusted(r.entry)) + (recorded ? "" : " (not recorded)") +
                    "; further refusals of this key are counted, one row per " + std::to_string(kAggregationWindowMs / 1000) + " s",
                std::move(f));
}

WatchEvent action_event(const EventRecord& r, const std::string& action, const std::string& result) {
    auto f = record_fields(r);
    f.push_back({"PORTAUTH_ACTION", action});
    f.push_back({"PORTAUTH_ACTION_RESULT", escape_untrusted(result)});
    return make(Priority::warning, kEventAction, "action " + action + " on " + describe(r) + ": " + escape_untrusted(result), std::move(f));
}

WatchEvent database_error_event(const std::string& db, const std::string& what, const std::string& line) {
    return make(Priority::err, kEventDatabaseError, line, {{"PORTAUTH_DB", escape_untrusted(db)}, {"PORTAUTH_REASON", what}});
}

WatchEvent database_recovered_event(const std::string& db) {
    return make(Priority::info, kEventDatabaseRecovered, "database '" + escape_untrusted(db) + "' can be written again: recording resumes",
                {{"PORTAUTH_DB", escape_untrusted(db)}});
}

WatchEvent suppressed_event(const std::string& event, uint64_t count, int64_t window_ms) {
    const std::string secs = std::to_string(window_ms / 1000);
    return make(Priority::warning, kEventSuppressed,
                "suppressed " + std::to_string(count) + " " + event + " messages in the last " + secs + " s (more than " +
                    std::to_string(kEventsPerWindow) + "); the database and the metrics count them all",
                {{"PORTAUTH_SUPPRESSED_EVENT", event}, {"PORTAUTH_SUPPRESSED", std::to_string(count)}, {"PORTAUTH_WINDOW_SECONDS", secs}});
}

void EventBudget::roll(const std::string& event, Window& w, int64_t now_ms) {
    if (now_ms < w.start + window_ms_) return;
    if (w.held > 0) unreported_[event] += w.held;
    w = Window{now_ms, 0, 0};
}

bool EventBudget::allow(const std::string& event, int64_t now_ms) {
    auto [it, fresh] = windows_.try_emplace(event, Window{now_ms, 0, 0});
    Window& w = it->second;
    roll(event, w, now_ms);
    if (w.said < per_window_) {
        ++w.said;
        return true;
    }
    ++w.held;
    ++total_[event];
    return false;
}

std::vector<std::pair<std::string, uint64_t>> EventBudget::ended(int64_t now_ms) {
    for (auto& [event, w] : windows_) roll(event, w, now_ms);
    std::vector<std::pair<std::string, uint64_t>> out(unreported_.begin(), unreported_.end());
    unreported_.clear();
    return out;
}

void JournalLog::event(const WatchEvent& e) {
    std::vector<JournalField> all = e.fields;
    all.insert(all.end(), common_.begin(), common_.end());
    if (journal_send(e.priority, identifier_, e.message, all) && stderr_is_journal_) return;
    lines_.event(e);
}

}  // namespace portauth::watch
