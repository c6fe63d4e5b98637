#pragma once
// Small helpers to append JSON text to a caller-owned buffer. No allocation beyond the
// buffer's own growth; safe from any thread on distinct buffers.

#include <cstdint>
#include <string>
#include <string_view>

namespace stepgate::json {

// Appends `s` as a quoted JSON string. Control bytes are escaped; invalid UTF-8 bytes are
// replaced by U+FFFD so the output is always valid JSON.
void appendString(std::string& out, std::string_view s);
void appendUint(std::string& out, uint64_t v);
void appendInt(std::string& out, int64_t v);

}  // namespace stepgate::json
