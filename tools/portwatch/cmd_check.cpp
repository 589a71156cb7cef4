// portwatch check: a Nagios/Icinga plugin. One status line with perfdata:
//   PORTWATCH OK - no squatters | squatters=0 refused_24h=0 scan_ms=0.4
//   PORTWATCH WARNING - no squatters; the kernel dropped 12 events (last at 2024-05-01T12:30:15Z) ... | ... dropped=12c
//   PORTWATCH CRITICAL - 1 squatter: udp/5060 uid 51001 (pid 1234) | squatters=1 refused_24h=3 scan_ms=1.2
//   PORTWATCH UNKNOWN - cannot open '/etc/portauth/reserve': ...
// It never says OK from data it could not read: a database whose -wal or
// -shm the caller cannot read (the newest rows are there) is UNKNOWN.
// refused_24h sums the refusals (reservations and grant misses) of rows
// last seen in the last 24 h; dropped (the kernel's counter, as of the last
// save by `portwatch run`) is printed only when a run saved it.
#include <sys/stat.h>

#include <cstdio>
#include <iostream>
#include <vector>

#include "common/escape.hpp"
#include "engine/engine.hpp"
#include "policy/tree.hpp"
#include "commands.hpp"
#include "portwatch/policy_source.hpp"
#include "portwatch/report.hpp"
#include "portwatch/scanner.hpp"
#include "portwatch/store.hpp"
#include "portwatch/watcher.hpp"

namespace portauth::watch {

int run_check(const CheckOptions& o) {
    auto unknown = [](const std::string& why) {
        std::cout << "PORTWATCH UNKNOWN - " << why << "\n";
        return kCheckUnknown;
    };
    const std::string pin_dir = default_pin_dir();
    auto watched = load_watched_policy(o.policy_dir, pin_dir);
    if (!watched) return unknown(watched.error().message());
    const Policy* policy = &watched->policy;
    auto result = scan(*policy);
    if (!result) return unknown("cannot scan: " + result.error().message());
    const int64_t now = now_ms(), day_ago = now - 86'400'000;
    int64_t refused = 0;
    std::optional<WatchStats> watch;
    struct stat st{};
    if (::stat(o.db.c_str(), &st) == 0) {   // no record yet: nothing was refused
        auto db = Database::open(o.db, {OpenOptions::Access::read});
        if (!db) return unknown(db.error().message());
        for (const char* kind : {"refused", "grant_miss"}) {
            auto n = db->count(kind, day_ago);
            if (!n) return unknown(n.error().message());
            refused += *n;
        }
        auto loaded = db->load_stats();
        if (!loaded) return unknown(loaded.error().message());
        watch = *loaded;
    } else if (errno != ENOENT) {
        return unknown(sys_error("cannot stat the database '" + o.db + "'").message());
    }
    char perf[160];
    (void)std::snprintf(perf, sizeof perf, " | squatters=%zu refused_24h=%lld scan_ms=%.1f", result->squatters.size(),
                        static_cast<long long>(refused), result->scan_ms);
    std::string perfdata = perf;
    if (watch) perfdata += " dropped=" + std::to_string(watch->dropped) + "c";
    std::string drops;
    if (watch && watch->last_drop_at >= day_ago)
        drops = "the kernel dropped events in the last 24 h (" + std::to_string(watch->dropped) + " in all, last at " +
                format_time(watch->last_drop_at) + "): refusals may be missing from the record";
    // What weakens the policy without a squatter: each a WARNING (the admin fixes files).
    std::vector<std::string> policy_warnings;
    if (const auto st = engine_status(pin_dir); st && st->active && st->fallback)
        policy_warnings.push_back("portauth enforces the last good policy as a fallback (the tree was refused at apply)");
    if (watched->tree_refused) policy_warnings.push_back(watched->note);
    if (!policy->disabled.empty()) {
        std::string names;
        for (const auto& d : policy->disabled) names += (names.empty() ? "" : ", ") + escape_untrusted(d.origin.str());
        policy_warnings.push_back(std::to_string(policy->disabled.size()) + (policy->disabled.size() == 1 ? " entry is" : " entries are") +
                                  " disabled, failing closed: " + names);
    }
    if (!drops.empty()) policy_warnings.push_back(drops);
    std::string warnings;
    for (const auto& w : policy_warnings) warnings += "; " + w;
    if (result->squatters.empty()) {
        if (!warnings.empty()) {
            std::cout << "PORTWATCH WARNING - no squatters" << warnings << perfdata << "\n";
            return kCheckWarning;
        }
        std::cout << "PORTWATCH OK - no squatters" << perfdata << "\n";
        return kCheckOk;
    }
    std::string line = "PORTWATCH CRITICAL - " + std::to_string(result->squatters.size()) +
                       (result->squatters.size() == 1 ? " squatter: " : " squatters: ");
    for (size_t i = 0; i < result->squatters.size(); ++i) {
        const auto& q = result->squatters[i];
        EventRecord r;
        r.proto = proto_name(q.socket.proto);
        r.addr = q.socket.addr.str();
        r.port = q.socket.port;
        r.uid = q.socket.uid;
        for (const auto& p : q.processes) r.pids += (r.pids.empty() ? "" : ",") + std::to_string(p.pid);
        line += (i ? ", " : "") + describe(r);
    }
    line += warnings;
    std::cout << line << perfdata << "\n";
    return kCheckCritical;
}

}  // namespace portauth::watch
