// portwatch report: print the record.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <iostream>

#include "commands.hpp"
#include "portwatch/report.hpp"
#include "portwatch/store.hpp"

namespace portauth::watch {

int run_report(const ReportOptions& o) {
    auto request = report_request_from(o, now_ms());
    if (!request) {
        spdlog::error("{}", request.error().message());
        return kExitError;
    }
    const EventQuery& q = request->query;
    const ReportFormat format = request->format;
    struct stat st{};
    if (::stat(o.db.c_str(), &st) != 0) {
        spdlog::error("{}", sys_error("cannot open the database '" + o.db + "'").message());
        return kExitError;
    }
    auto db = Database::open(o.db, {OpenOptions::Access::read});
    if (!db) {
        spdlog::error("{}", db.error().message());
        return kExitError;
    }
    // A crafted row (numbers that are not numbers) is left out and named: the
    // rest is printed, and the exit status says that something was missing.
    std::vector<std::string> unreadable;
    auto rows = db->query(q, &unreadable);
    if (!rows) {
        spdlog::error("{}", rows.error().message());
        return kExitError;
    }
    std::optional<WatchStats> watch;
    if (o.stats || format == ReportFormat::table) {
        auto loaded = db->load_stats();
        if (!loaded) {
            spdlog::error("{}", loaded.error().message());
            return kExitError;
        }
        watch = *loaded;
    }
    if (o.stats) {
        std::cout << format_summary(summarize(*rows, watch), format);
    } else {
        std::cout << format_events(*rows, format);
        if (format == ReportFormat::table) std::cout << summary_line(summarize(*rows, watch));
    }
    std::cout << std::flush;
    for (const auto& line : unreadable) spdlog::error("database '{}': {}", o.db, line);
    if (!unreadable.empty()) {
        spdlog::error("database '{}': {} row(s) could not be read and were left out", o.db, unreadable.size());
        return kExitError;
    }
    return std::cout ? kExitClean : kExitError;
}

}  // namespace portauth::watch
