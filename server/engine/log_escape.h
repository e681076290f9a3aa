// Names and ids chosen by callers (collection names, string ids, snapshot
// names) reach the logs; escaped, they cannot forge a log line or hide
// behind control characters.
#pragma once

#include <string>
#include <string_view>

namespace qvdb {

// `s` with backslash, double quote and every byte outside printable ASCII
// written as \\, \" and \xNN; cut after `max_bytes` input bytes with "..."
// so that one call cannot flood the log. Default: 256 bytes.
std::string LogEscaped(std::string_view s, size_t max_bytes = 256);

}  // namespace qvdb
