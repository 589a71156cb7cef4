#include "portwatch/metrics.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "common/atomic_file.hpp"
#include "common/escape.hpp"
#include "engine/engine.hpp"
#include "policy/model.hpp"
#include "policy/spec.hpp"

namespace portauth::watch {

namespace {

void family(std::string& out, const char* name, const char* type, const char* help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void series(std::string& out, const char* name, const char* type, const char* help, const std::string& value) {
    family(out, name, type, help);
    out.append(name).append(" ").append(value).append("\n");
}

using Labels = std::initializer_list<std::pair<const char*, const std::string*>>;

// NAME{a="...",b="..."} VALUE, every label value escaped.
void sample(std::string& out, const char* name, Labels labels, const std::string& value) {
    out.append(name).append("{");
    const char* sep = "";
    for (const auto& [label, v] : labels) {
        out.append(sep).append(label).append("=\"").append(label_value(*v)).append("\"");
        sep = ",";
    }
    out.append("} ").append(value).append("\n");
}

std::string seconds(double s) {
    char buf[64];
    (void)std::snprintf(buf, sizeof buf, "%.6f", s);
    return buf;
}


struct EntryLabels {
    std::string proto, port;
};

// The kernel names a rule by its entry (engine/compile.cpp), cut to PA_RULE_NAME_LEN - 1 bytes.
std::map<std::string, EntryLabels> entry_labels(const Policy& p) {
    std::map<std::string, EntryLabels> out;
    auto put = [&](const Origin& o, std::string proto, std::string port) {
        out.emplace(o.str().substr(0, PA_RULE_NAME_LEN - 1), EntryLabels{std::move(proto), std::move(port)});
    };
    for (const auto& r : p.reservations) put(r.origin, proto_name(r.proto), format_port_range(r.port_min, r.port_max));
    for (const auto& g : p.port_grants) put(g.origin, "any", std::to_string(g.port));
    for (const auto& g : p.addr_grants) put(g.origin, "any", std::to_string(g.port));
    for (const auto& f : p.uid_grants)
        for (const auto& l : f.lines) put(l.origin, "any", format_port_range(l.port_min, l.port_max));
    return out;
}

}  // namespace

std::optional<std::string> default_metrics_file(const std::string& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
    return dir + "/" + kTextfileName;
}

void add_enforcement(Metrics& m, const EngineStatus& st, const Policy* policy, int64_t now_seconds) {
    m.enforcement_active = st.active;
    m.policy_fallback = st.active && st.fallback;
    m.entry_binds.emplace();
    if (!st.active) return;
    m.policy_generation = st.generation;
    m.policy_applied_at = st.applied_at;
    m.policy_age_seconds = std::max(0.0, static_cast<double>(now_seconds) - static_cast<double>(st.applied_at));
    const auto labels = policy ? entry_labels(*policy) : std::map<std::string, EntryLabels>{};
    for (const auto& r : st.rules) {
        const auto it = labels.find(r.name);
        const EntryLabels l = it == labels.end() ? EntryLabels{} : it->second;
        m.entry_binds->push_back({r.name, l.proto, l.port, r.allowed, r.denied});
    }
}

std::string label_value(const std::string& s) {
    static const char* hex = "0123456789abcdef";
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        for (size_t k = 1; len && k < len; ++k)
            if (i + k >= s.size() || (static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) len = 0;
        // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8 either (promtool refuses them).
        if (len > 1 && !valid_utf8(std::string_view(s).substr(i, len))) len = 0;
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else if (len == 0 || c < 0x20 || c == 0x7f || c == '%') {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
            i += 1;
            continue;
        } else {
            out.append(s, i, len);
            i += len;
            continue;
        }
        i += 1;
    }
    return out;
}

std::string format_metrics(const Metrics& m) {
    std::string out;
    series(out, "portwatch_squatters", "gauge", "Sockets holding a reserved port against the policy, at the last scan.",
           std::to_string(m.squatters));
    family(out, "portwatch_squatter_sockets", "gauge",
           "Sockets holding a reserved port against the policy at the last scan, by reservation entry, protocol and port.");
    for (const auto& g : m.squatters_by_entry) {
        const std::string port = std::to_string(g.port);
        sample(out, "portwatch_squatter_sockets", {{"entry", &g.entry}, {"proto", &g.proto}, {"port", &port}}, std::to_string(g.sockets));
    }
    series(out, "portwatch_refused_binds_total", "counter",
           "Binds the kernel refused, seen since portwatch started (delivered events plus the refusals folded into them).",
           std::to_string(m.refused_binds_total));
    series(out, "portwatch_scan_duration_seconds", "gauge", "How long the last scan took.", seconds(m.scan_duration_seconds));
    series(out, "portwatch_sockets_scanned", "gauge", "Sockets on reserved ports the last scan looked at.", std::to_string(m.sockets_scanned));
    series(out, "portwatch_record_writable", "gauge", "1 when the last scan could write to the database, 0 when events are only logged.",
           m.record_writable ? "1" : "0");
    series(out, "portwatch_record_errors_total", "counter", "Failed opens and writes of the database since portwatch started.",
           std::to_string(m.record_errors_total));
    series(out, "portwatch_refusal_events_delivered_total", "counter", "Refusal events the kernel delivered through the ring buffer.",
           std::to_string(m.events_delivered_total));
    series(out, "portwatch_refusal_events_suppressed_total", "counter",
           "Refusals the kernel's per-key rate limit folded into a delivered event (counted, not lost).",
           std::to_string(m.events_suppressed_total));
    series(out, "portwatch_refusal_events_dropped_total", "counter", "Refusal events lost because the ring buffer was full.",
           std::to_string(m.events_dropped_total));
    series(out, "portwatch_refusals_recorded_total", "counter", "Refusals counted in rows the database accepted since portwatch started.",
           std::to_string(m.refusals_recorded_total));
    series(out, "portwatch_rows_written_total", "counter", "Aggregated refusal rows written to the database since portwatch started.",
           std::to_string(m.rows_written_total));
    series(out, "portwatch_aggregation_keys", "gauge", "Distinct refusal keys held in memory for the next database write.",
           std::to_string(m.aggregation_keys));
    series(out, "portwatch_hooks_run_total", "counter", "Alert hooks started since portwatch started.", std::to_string(m.hooks_run_total));
    series(out, "portwatch_hooks_dropped_total", "counter", "Alert hook runs not started because the hook queue was full.",
           std::to_string(m.hooks_dropped_total));
    series(out, "portwatch_hooks_timed_out_total", "counter", "Alert hooks killed (with their process group) at --exec-timeout.",
           std::to_string(m.hooks_timed_out_total));
    series(out, "portwatch_loop_lag_seconds", "gauge", "How late the last scan started against its schedule.", seconds(m.loop_lag_seconds));
    if (m.policy_disabled_entries)
        series(out, "portwatch_policy_disabled_entries", "gauge", "Policy entries disabled (closed) by the loader's hygiene checks.",
               std::to_string(*m.policy_disabled_entries));
    family(out, "portwatch_policy_entry_disabled", "gauge", "1 for each policy entry that fails closed, with why.");
    for (const auto& d : m.disabled_entries) sample(out, "portwatch_policy_entry_disabled", {{"entry", &d.entry}, {"reason", &d.reason}}, "1");
    series(out, "portwatch_policy_tree_refused", "gauge",
           "1 when the tree is refused and portwatch watches the policy the kernel enforces from it instead.",
           m.policy_tree_refused ? "1" : "0");
    if (m.enforcement_active)
        series(out, "portwatch_enforcement_active", "gauge", "1 when portauth enforces a policy at the pin dir portwatch watches.",
               *m.enforcement_active ? "1" : "0");
    if (m.policy_fallback)
        series(out, "portwatch_policy_fallback", "gauge",
               "1 when the enforced policy is the last good one, loaded because the tree was refused at apply.",
               *m.policy_fallback ? "1" : "0");
    if (m.policy_generation)
        series(out, "portwatch_policy_generation", "gauge", "The generation of the enforced policy (each apply adds one).",
               std::to_string(*m.policy_generation));
    if (m.policy_applied_at)
        series(out, "portwatch_policy_applied_timestamp_seconds", "gauge", "When the enforced policy was applied, seconds since the epoch.",
               std::to_string(*m.policy_applied_at));
    if (m.policy_age_seconds)
        series(out, "portwatch_policy_age_seconds", "gauge", "Seconds since the enforced policy was applied, at the last scan.",
               seconds(*m.policy_age_seconds));
    if (m.entry_binds) {
        family(out, "portwatch_entry_allowed_binds_total", "counter",
               "Binds the kernel allowed by this policy entry (its counters, kept across applies; portauth status shows them).");
        for (const auto& e : *m.entry_binds)
            sample(out, "portwatch_entry_allowed_binds_total", {{"entry", &e.entry}, {"proto", &e.proto}, {"port", &e.port}},
                   std::to_string(e.allowed));
        family(out, "portwatch_entry_denied_binds_total", "counter",
               "Binds the kernel refused because of this policy entry (its counters, kept across applies; portauth status shows them).");
        for (const auto& e : *m.entry_binds)
            sample(out, "portwatch_entry_denied_binds_total", {{"entry", &e.entry}, {"proto", &e.proto}, {"port", &e.port}},
                   std::to_string(e.denied));
    }
    family(out, "portwatch_log_events_suppressed_total", "counter",
           "Log lines and journal entries not sent because their kind's budget for the minute was spent (counted, and in the database).");
    for (const auto& [event, n] : m.log_events_suppressed) sample(out, "portwatch_log_events_suppressed_total", {{"event", &event}}, std::to_string(n));
    return out;
}

Status write_metrics(const std::string& path, const Metrics& m) { return write_file_atomically(path, format_metrics(m)); }

}  // namespace portauth::watch
