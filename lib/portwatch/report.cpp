#include "portwatch/report.hpp"

#include <algorithm>
#include <ctime>
#include <tuple>

#include "common/escape.hpp"
#include "common/json.hpp"
#include "common/parse.hpp"
#include "common/utc_time.hpp"
#include "portwatch/options.hpp"

namespace portauth::watch {

Result<ReportFormat> parse_report_format(std::string_view text) {
    if (text == "table") return ReportFormat::table;
    if (text == "json") return ReportFormat::json;
    if (text == "csv") return ReportFormat::csv;
    return logic_error("'" + std::string(text) + "': unknown format (table, json or csv)");
}

Result<ReportRequest> report_request_from(const ReportOptions& o, int64_t now) {
    ReportRequest r;
    auto format = parse_report_format(o.format);
    if (!format) return logic_error("--format " + format.error().what);
    r.format = *format;
    if (o.kind && *o.kind != "squat" && *o.kind != "refused" && *o.kind != "grant_miss")
        return logic_error("--kind '" + *o.kind + "': unknown kind (squat, refused or grant_miss)");
    r.query.kind = o.kind;
    for (auto [name, text, out] : {std::tuple{"--since ", &o.since, &r.query.since}, std::tuple{"--until ", &o.until, &r.query.until}}) {
        if (!*text) continue;
        auto when = parse_when(**text, now);
        if (!when) return logic_error(name + when.error().what);
        *out = *when;
    }
    return r;
}

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

std::optional<unsigned> digits(std::string_view s, size_t at, size_t n, unsigned max) {
    if (at + n > s.size()) return std::nullopt;
    auto v = parse_decimal(s.substr(at, n), max);
    if (!v) return std::nullopt;
    return static_cast<unsigned>(*v);
}

}  // namespace

Result<int64_t> parse_when(std::string_view text, int64_t now) {
    const Error bad = logic_error("'" + std::string(text) +
                                  "': not a time (write 2024-05-01, 2024-05-01T12:30[:15][Z], or 90s, 30m, 1h, 7d, 2w)");
    if (text.empty()) return bad;
    const char unit = text.back();
    static constexpr std::pair<char, int64_t> units[] = {{'s', 1000}, {'m', 60'000}, {'h', 3'600'000}, {'d', 86'400'000}, {'w', 604'800'000}};
    for (auto [u, ms] : units) {
        if (unit != u) continue;
        auto n = parse_decimal(text.substr(0, text.size() - 1), 100ULL * 366 * 86'400'000 / static_cast<uint64_t>(ms));
        if (!n) return bad;
        return now - static_cast<int64_t>(*n) * ms;
    }
    std::string_view s = text;
    if (s.back() == 'Z') s.remove_suffix(1);
    auto y = digits(s, 0, 4, 9999), mo = digits(s, 5, 2, 12), d = digits(s, 8, 2, 31);
    if (!y || !mo || !d || s[4] != '-' || s[7] != '-' || *mo == 0 || *d == 0) return bad;
    static constexpr unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (*d > mdays[*mo - 1] + (*mo == 2 && leap(*y) ? 1 : 0)) return bad;
    unsigned hh = 0, mm = 0, ss = 0;
    if (s.size() > 10) {
        if (s[10] != 'T' && s[10] != ' ') return bad;
        auto h = digits(s, 11, 2, 23), m = digits(s, 14, 2, 59);
        if (!h || !m || s.size() < 16 || s[13] != ':') return bad;
        hh = *h;
        mm = *m;
        if (s.size() == 19) {
            auto sec = digits(s, 17, 2, 60);
            if (!sec || s[16] != ':') return bad;
            ss = *sec;
        } else if (s.size() != 16) {
            return bad;
        }
    } else if (s.size() != 10) {
        return bad;
    }
    return ((days_from_civil(*y, *mo, *d) * 24 + hh) * 60 + mm) * 60'000 + int64_t{ss} * 1000;
}

std::string format_time(int64_t ms) { return utc_iso8601(ms / 1000); }

namespace {

// Every cell may hold what a watched process chose (comm, exe, cmdline):
// escaped, formula-neutralised and quoted per RFC 4180 (common/escape.hpp).
// The cells come here already escaped (escape_untrusted, below).
std::string csv_field(const std::string& s) { return csv_quote(s); }

// The first pid of "1234,1240", for the one-pid fields.
std::string first_pid(const std::string& pids) { return pids.substr(0, pids.find(',')); }

// Every pid of "1234,1240" that is a number; a crafted database's other pieces are left out.
std::vector<uint32_t> pid_list(const std::string& pids) {
    std::vector<uint32_t> out;
    for (size_t start = 0; start <= pids.size();) {
        const size_t comma = std::min(pids.find(',', start), pids.size());
        if (auto p = parse_decimal(std::string_view(pids).substr(start, comma - start), UINT32_MAX)) out.push_back(static_cast<uint32_t>(*p));
        start = comma + 1;
    }
    return out;
}

// Milliseconds since the Epoch to the whole seconds the ISO form (format_time) shows.
int64_t epoch_seconds(int64_t ms) { return ms / 1000; }

}  // namespace

std::string format_events(const std::vector<EventRecord>& rows, ReportFormat format) {
    if (format == ReportFormat::json) {
        JsonWriter w;
        w.begin_array();
        for (const auto& r : rows) {
            w.begin_object();
            w.field("id", r.id).field("kind", escape_untrusted(r.kind)).field("proto", escape_untrusted(r.proto)).field("addr", escape_untrusted(r.addr)).field("port", r.port);
            w.field("uid", r.uid).field("user", escape_untrusted(r.user));
            w.key("pid");
            // A crafted database may hold anything in pids: a number or null, never an abort.
            if (auto p = parse_decimal(first_pid(r.pids), UINT32_MAX)) w.value(*p);
            else w.null();
            w.field("pids", escape_untrusted(r.pids)).field("comm", escape_untrusted(r.comm)).field("exe", escape_untrusted(r.exe));
            w.field("cmdline", escape_untrusted(r.cmdline)).field("entry", escape_untrusted(r.entry));
            w.field("first_seen", format_time(r.first_seen)).field("last_seen", format_time(r.last_seen)).field("count", r.count);
            w.field("action", escape_untrusted(r.action)).field("action_result", escape_untrusted(r.action_result));
            w.field("identity", escape_untrusted(r.identity));
            w.key("pid_list").begin_array();
            for (const uint32_t pid : pid_list(r.pids)) w.value(pid);
            w.end_array();
            w.field("first_seen_epoch", epoch_seconds(r.first_seen)).field("last_seen_epoch", epoch_seconds(r.last_seen));
            w.end_object();
        }
        w.end_array();
        return w.str() + "\n";
    }
    // exe, cmdline and identity last: the table leaves them out.
    const std::vector<std::string> head = {"KIND", "PROTO", "ADDR", "PORT", "UID", "USER", "PID", "COMM", "ENTRY", "COUNT",
                                           "FIRST_SEEN", "LAST_SEEN", "ACTION", "RESULT", "EXE", "CMDLINE", "IDENTITY"};
    std::vector<std::vector<std::string>> table;
    table.reserve(rows.size());
    for (const auto& r : rows)
        table.push_back({escape_untrusted(r.kind), escape_untrusted(r.proto), escape_untrusted(r.addr), std::to_string(r.port),
                         std::to_string(r.uid), escape_untrusted(r.user), escape_untrusted(r.pids), escape_untrusted(r.comm),
                         escape_untrusted(r.entry), std::to_string(r.count), format_time(r.first_seen), format_time(r.last_seen),
                         escape_untrusted(r.action), escape_untrusted(r.action_result), escape_untrusted(r.exe), escape_untrusted(r.cmdline),
                         escape_untrusted(r.identity)});
    std::string out;
    if (format == ReportFormat::csv) {
        // Columns are only ever added, at the end: count and identity came with schema 3.
        out = "kind,proto,addr,port,uid,user,pids,comm,entry,first_seen,last_seen,action,action_result,exe,cmdline,count,identity\n";
        static constexpr size_t kCsvOrder[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 9, 16};
        for (const auto& row : table) {
            for (size_t i = 0; i < std::size(kCsvOrder); ++i) out += (i ? "," : "") + csv_field(row[kCsvOrder[i]]);
            out += "\n";
        }
        return out;
    }
    // The table leaves out exe, cmdline and identity (JSON and CSV carry them).
    const size_t shown = head.size() - 3;
    std::vector<size_t> width(shown);
    for (size_t i = 0; i < shown; ++i) width[i] = head[i].size();
    for (const auto& row : table)
        for (size_t i = 0; i < shown; ++i) width[i] = std::max(width[i], row[i].size());
    auto line = [&](const std::vector<std::string>& cells) {
        std::string l;
        for (size_t i = 0; i < shown; ++i) {
            l += cells[i];
            if (i + 1 < shown) l += std::string(width[i] - cells[i].size() + 2, ' ');
        }
        out += l + "\n";
    };
    line(head);
    for (const auto& row : table) line(row);
    return out;
}

ReportSummary summarize(const std::vector<EventRecord>& rows, std::optional<WatchStats> watch) {
    ReportSummary s;
    s.rows = rows.size();
    for (const auto& r : rows) s.events = r.count > UINT64_MAX - s.events ? UINT64_MAX : s.events + r.count;
    s.watch = watch;
    return s;
}

std::string format_summary(const ReportSummary& s, ReportFormat format) {
    // name, value; the watch counters only when a `portwatch run` saved them.
    std::vector<std::pair<std::string, std::string>> items = {{"rows", std::to_string(s.rows)}, {"count", std::to_string(s.events)}};
    if (s.watch) {
        const WatchStats& w = *s.watch;
        items.insert(items.end(), {{"counters_at", format_time(w.updated_at)},
                                   {"delivered", std::to_string(w.delivered)},
                                   {"suppressed", std::to_string(w.suppressed)},
                                   {"dropped", std::to_string(w.dropped)}});
        if (w.last_drop_at > 0) items.emplace_back("last_drop_at", format_time(w.last_drop_at));
        items.insert(items.end(), {{"refusals_seen", std::to_string(w.refusals_seen)},
                                   {"rows_written", std::to_string(w.rows_written)},
                                   {"enforcement_active", w.enforcement_active ? "true" : "false"}});
    }
    if (format == ReportFormat::json) {
        JsonWriter j;
        j.begin_object();
        j.field("rows", s.rows).field("count", s.events);
        if (s.watch) {
            const WatchStats& w = *s.watch;
            j.field("counters_at", format_time(w.updated_at)).field("delivered", w.delivered).field("suppressed", w.suppressed);
            j.field("dropped", w.dropped);
            if (w.last_drop_at > 0) j.field("last_drop_at", format_time(w.last_drop_at));
            j.field("refusals_seen", w.refusals_seen).field("rows_written", w.rows_written).field("enforcement_active", w.enforcement_active);
            j.field("counters_at_epoch", epoch_seconds(w.updated_at));
            if (w.last_drop_at > 0) j.field("last_drop_at_epoch", epoch_seconds(w.last_drop_at));
        }
        j.end_object();
        return j.str() + "\n";
    }
    std::string out;
    if (format == ReportFormat::csv) {
        for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i].first;
        out += "\n";
        for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + csv_quote(items[i].second);
        return out + "\n";
    }
    size_t width = 0;
    for (const auto& [name, value] : items) width = std::max(width, name.size());
    for (const auto& [name, value] : items) out.append(name).append(width - name.size() + 2, ' ').append(value).append("\n");
    return out;
}

std::string summary_line(const ReportSummary& s) {
    std::string line = std::to_string(s.rows) + (s.rows == 1 ? " row, " : " rows, ") + std::to_string(s.events) +
                       (s.events == 1 ? " event" : " events") + " (refusals: one row per key per " +
                       std::to_string(kRefusalWindowMs / 1000) + " s, with a count); ";
    if (!s.watch) return line + "no counters from portwatch run: drops by the kernel unknown\n";
    const WatchStats& w = *s.watch;
    line += "kernel, as of " + format_time(w.updated_at) + ": " + std::to_string(w.dropped) + " events dropped (ring buffer full";
    if (w.last_drop_at > 0) line += ", last at " + format_time(w.last_drop_at);
    line += "), " + std::to_string(w.suppressed) + " refusals folded by its rate limit, " + std::to_string(w.delivered) + " delivered";
    if (!w.enforcement_active) line += "; enforcement was not active";
    return line + "\n";
}

}  // namespace portauth::watch
