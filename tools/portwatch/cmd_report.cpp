// portwatch report: print the record.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <iostream>

#include "portwatch/commands.hpp"
#include "portwatch/report.hpp"
#include "portwatch/store.hpp"

namespace portauth::watch {

int run_report(const ReportOptions& o) {
    auto format = parse_report_format(o.format);
    if (!format) {
        spdlog::error("{}", format.error().message());
        return kExitError;
    }
    const int64_t now = now_ms();
    EventQuery q;
    q.kind = o.kind;
    for (auto [text, out] : {std::pair{&o.since, &q.since}, std::pair{&o.until, &q.until}}) {
        if (!*text) continue;
        auto when = parse_when(**text, now);
        if (!when) {
            spdlog::error("{}", when.error().message());
            return kExitError;
        }
        *out = *when;
    }
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
    auto rows = db->query(q);
    if (!rows) {
        spdlog::error("{}", rows.error().message());
        return kExitError;
    }
    std::cout << format_events(*rows, *format) << std::flush;
    return std::cout ? kExitClean : kExitError;
}

}  // namespace portauth::watch
