// Structured entries for the systemd journal, over its native protocol: one
// datagram to /run/systemd/journal/socket holding FIELD=value lines, or, for
// a value with a newline, FIELD\n, its length as 64-bit little endian, the
// bytes and \n (systemd.journal-fields(7), "Native protocol"). No libsystemd.
//
// $PORTAUTH_JOURNAL_SOCKET names another socket (tests listen on their own);
// set and empty, nothing is sent. Read with secure_getenv.
//
// Never blocks and never fails its caller: a host without journald (or a
// full socket buffer) just gets no entry; stderr still says everything.
#pragma once

#include <string>
#include <vector>

namespace portauth {

// syslog(3)'s levels, which the journal's PRIORITY field takes.
enum class Priority { emerg = 0, alert, crit, err, warning, notice, info, debug };

struct JournalField {
    std::string name;    // upper case, digits, '_'; not starting with '_' (checked: others are dropped)
    std::string value;   // any bytes
};

// True when the journal took the entry. MESSAGE, PRIORITY and
// SYSLOG_IDENTIFIER are added; values are cut at 64 KiB.
bool journal_send(Priority priority, const std::string& identifier, const std::string& message, const std::vector<JournalField>& fields);

// True when file descriptor `fd` (1 or 2) is the stream systemd connected to
// the journal ($JOURNAL_STREAM is its device:inode): a line written there is
// in the journal already, so a caller that sent the structured entry need
// not write the same line there too.
bool fd_is_journal_stream(int fd);

}  // namespace portauth
