// Reading the record back: WHEN arguments, and the table / JSON / CSV forms.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "portwatch/store.hpp"

namespace portauth::watch {

enum class ReportFormat { table, json, csv };
Result<ReportFormat> parse_report_format(std::string_view text);

// WHEN, in milliseconds since the epoch. Accepted:
//   ISO 8601 in UTC: 2024-05-01, 2024-05-01T12:30, 2024-05-01T12:30:15, with
//   a space instead of T, and an optional trailing Z;
//   relative, meaning that long before `now_ms`: 90s, 30m, 1h, 7d, 2w.
// Relative amounts are limited to 100 years.
Result<int64_t> parse_when(std::string_view text, int64_t now_ms);

// 2024-05-01T12:30:15Z
std::string format_time(int64_t ms);

std::string format_events(const std::vector<EventRecord>& rows, ReportFormat format);

}  // namespace portauth::watch
