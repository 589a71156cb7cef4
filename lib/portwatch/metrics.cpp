#include "portwatch/metrics.hpp"

#include <cstdio>

#include "common/atomic_file.hpp"

namespace portauth::watch {

namespace {

void series(std::string& out, const char* name, const char* type, const char* help, const std::string& value) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
    out.append(name).append(" ").append(value).append("\n");
}

std::string seconds(double s) {
    char buf[64];
    (void)std::snprintf(buf, sizeof buf, "%.6f", s);
    return buf;
}

bool all_digits(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

// "80", "6000-6099": ports as the entry spells them; "" for anything else.
std::string port_text(const std::string& s) {
    const auto dash = s.find('-');
    if (dash == std::string::npos) return all_digits(s) ? s : "";
    return all_digits(s.substr(0, dash)) && all_digits(s.substr(dash + 1)) ? s : "";
}

// {entry="...",proto="...",port="..."}
std::string entry_label_set(const std::string& entry, const std::string& proto, const std::string& port) {
    return "{entry=\"" + label_value(entry) + "\",proto=\"" + label_value(proto) + "\",port=\"" + label_value(port) + "\"}";
}

}  // namespace

EntryLabels entry_labels(const std::string& entry) {
    EntryLabels l;
    if (entry.rfind("reserve/", 0) == 0) {
        const std::string rest = entry.substr(8);
        const auto slash = rest.find('/');
        if (slash == std::string::npos) return l;
        const std::string proto = rest.substr(0, slash);
        if (proto != "tcp" && proto != "udp") return l;
        l.proto = proto;
        l.port = port_text(rest.substr(slash + 1, rest.find('@', slash) - slash - 1));
        return l;
    }
    l.proto = "any";   // grants cover tcp and udp alike
    if (entry.rfind("byport/", 0) == 0) {
        std::string port = entry.substr(7);
        if (!port.empty() && port[0] == '!') port.erase(0, 1);
        l.port = port_text(port);
    } else if (entry.rfind("byaddr/", 0) == 0) {
        const auto sep = entry.find_last_of(",:");
        if (sep != std::string::npos) l.port = port_text(entry.substr(sep + 1));
    } else if (entry.rfind("byuid/", 0) == 0) {
        const auto open = entry.find(" (");
        const auto comma = entry.rfind(',');
        if (open != std::string::npos && comma != std::string::npos && comma > open && entry.back() == ')')
            l.port = port_text(entry.substr(comma + 1, entry.size() - comma - 2));
    } else {
        l.proto.clear();
    }
    return l;
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
    if (!m.disabled_entries.empty()) {
        out += "# HELP portwatch_policy_entry_disabled 1 for each policy entry that fails closed, with why.\n"
               "# TYPE portwatch_policy_entry_disabled gauge\n";
        for (const auto& d : m.disabled_entries)
            out.append("portwatch_policy_entry_disabled{entry=\"").append(label_value(d.entry)).append("\",reason=\"")
                .append(label_value(d.reason)).append("\"} 1\n");
    }
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
        series(out, "portwatch_policy_generation", "gauge",
               "The enforced policy's generation: one more at each portauth apply to the pin dir.", std::to_string(*m.policy_generation));
    if (m.policy_age_seconds)
        series(out, "portwatch_policy_age_seconds", "gauge", "Seconds since the enforced policy was applied.", seconds(*m.policy_age_seconds));
    if (!m.entries.empty()) {
        for (const bool allowed : {true, false}) {
            const char* name = allowed ? "portwatch_entry_allowed_binds_total" : "portwatch_entry_denied_binds_total";
            out.append("# HELP ").append(name).append(allowed ? " Binds the kernel let through on this policy entry since it was loaded.\n"
                                                               : " Binds the kernel refused on this policy entry since it was loaded.\n");
            out.append("# TYPE ").append(name).append(" counter\n");
            for (const auto& e : m.entries) {
                const EntryLabels l = entry_labels(e.entry);
                out.append(name).append(entry_label_set(e.entry, l.proto, l.port)).append(" ")
                    .append(std::to_string(allowed ? e.allowed : e.denied)).append("\n");
            }
        }
    }
    if (!m.squatters_by_port.empty()) {
        out += "# HELP portwatch_squatter_sockets Sockets holding a reserved port against the policy at the last scan, by reservation and port.\n"
               "# TYPE portwatch_squatter_sockets gauge\n";
        for (const auto& q : m.squatters_by_port)
            out.append("portwatch_squatter_sockets").append(entry_label_set(q.entry, proto_name(q.proto), std::to_string(q.port)))
                .append(" ").append(std::to_string(q.sockets)).append("\n");
    }
    return out;
}

Status write_metrics(const std::string& path, const Metrics& m) { return write_file_atomically(path, format_metrics(m)); }

}  // namespace portauth::watch
