// Reading the record back: WHEN arguments, and the table / JSON / CSV forms.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "portwatch/store.hpp"

namespace portauth::watch {

enum class ReportFormat { table, json, csv };
Result<ReportFormat> parse_report_format(std::string_view text);

// What `portwatch report` was asked, checked: the one place its values are
// checked (the tool's parser only converts types). A refusal names the option
// and the value: "--kind 'squats': unknown kind (squat, refused or grant_miss)".
struct ReportOptions;
struct ReportRequest {
    EventQuery query;
    ReportFormat format = ReportFormat::table;
};
Result<ReportRequest> report_request_from(const ReportOptions& o, int64_t now_ms);

// WHEN, in milliseconds since the epoch. Accepted:
//   ISO 8601 in UTC: 2024-05-01, 2024-05-01T12:30, 2024-05-01T12:30:15, with
//   a space instead of T, and an optional trailing Z;
//   relative, meaning that long before `now_ms`: 90s, 30m, 1h, 7d, 2w.
// Relative amounts are limited to 100 years.
Result<int64_t> parse_when(std::string_view text, int64_t now_ms);

// 2024-05-01T12:30:15Z
std::string format_time(int64_t ms);

// Every string that came from a watched process (comm, exe, cmdline, user,
// entry, action_result, pids) passes escape_untrusted (CSV: csv_quote too),
// so the output is valid UTF-8 without control characters in every format.
std::string format_events(const std::vector<EventRecord>& rows, ReportFormat format);

// What the rows printed stand for, and the daemon's counters when a
// `portwatch run` saved them (store.hpp, WatchStats).
struct ReportSummary {
    uint64_t rows = 0;
    uint64_t events = 0;   // the sum of count: refusals are aggregated
    std::optional<WatchStats> watch;
};
ReportSummary summarize(const std::vector<EventRecord>& rows, std::optional<WatchStats> watch);
// `report --stats`: one JSON object, two CSV lines, or "name  value" lines.
std::string format_summary(const ReportSummary& summary, ReportFormat format);
// The table's last line: rows, events, and what the kernel dropped and folded.
std::string summary_line(const ReportSummary& summary);

}  // namespace portauth::watch
