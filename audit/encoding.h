#pragma once
// Byte encodings the audit formats share: standard base64 (RFC 4648 section 4, padded) and
// lower-case hex.

#include <string>
#include <string_view>

namespace stepgate::audit {

// `in` as standard, padded base64.
std::string base64Encode(std::string_view in);
// Decodes strict standard base64 with padding into `out`: the length a multiple of 4, '='
// only as the last one or two characters, and no bits set beyond the last byte (canonical).
bool base64Decode(std::string_view in, std::string& out);

// Appends `in` as lower-case hex, two digits a byte.
void appendHex(std::string& out, std::string_view in);

}  // namespace stepgate::audit
