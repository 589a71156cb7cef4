// portwatch's subcommands: main.cpp parses into the option structs
// (lib/portwatch/options.hpp) and calls run_*; each turns its options into
// library calls and its result into output, and returns the process exit
// status (tools/portwatch/cmd_*.cpp).
#pragma once

#include "portwatch/journal_events.hpp"
#include "portwatch/options.hpp"

namespace portauth::watch {

// spdlog's default logger, and the journal for events (cmd_scan.cpp).
JournalLog& tool_log();

int run_scan(const ScanOptions&);
int run_report(const ReportOptions&);
int run_check(const CheckOptions&);
int run_daemon(const RunOptions&);

}  // namespace portauth::watch
