// portwatch check: a Nagios/Icinga plugin. One status line with perfdata:
//   PORTWATCH OK - no squatters | squatters=0 refused_24h=0 scan_ms=0.4
//   PORTWATCH CRITICAL - 1 squatter: udp/5060 uid 51001 (pid 1234) | squatters=1 refused_24h=3 scan_ms=1.2
//   PORTWATCH UNKNOWN - cannot open '/etc/portauth/reserve': ...
#include <sys/stat.h>

#include <cstdio>
#include <iostream>

#include "policy/tree.hpp"
#include "portwatch/commands.hpp"
#include "portwatch/scanner.hpp"
#include "portwatch/store.hpp"
#include "portwatch/watcher.hpp"

namespace portauth::watch {

int run_check(const CheckOptions& o) {
    auto unknown = [](const std::string& why) {
        std::cout << "PORTWATCH UNKNOWN - " << why << "\n";
        return kCheckUnknown;
    };
    auto policy = load_policy(o.policy_dir);
    if (!policy) return unknown(policy.error().message());
    auto result = scan(*policy);
    if (!result) return unknown("cannot scan: " + result.error().message());
    int64_t refused = 0;
    struct stat st{};
    if (::stat(o.db.c_str(), &st) == 0) {   // no record yet: nothing was refused
        auto db = Database::open(o.db, {OpenOptions::Access::read});
        if (!db) return unknown(db.error().message());
        auto n = db->count("refused", now_ms() - 86'400'000);
        if (!n) return unknown(n.error().message());
        refused = *n;
    }
    char perf[128];
    (void)std::snprintf(perf, sizeof perf, " | squatters=%zu refused_24h=%lld scan_ms=%.1f", result->squatters.size(),
                  static_cast<long long>(refused), result->scan_ms);
    if (result->squatters.empty()) {
        std::cout << "PORTWATCH OK - no squatters" << perf << "\n";
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
    std::cout << line << perf << "\n";
    return kCheckCritical;
}

}  // namespace portauth::watch
