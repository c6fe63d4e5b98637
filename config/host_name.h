#pragma once
// Host-name syntax shared by the config loaders. Pure; thread-safe.

#include <string_view>

namespace stepgate::config {

// A DNS name: dot-separated labels of letters, digits, '-' and '_' (service names in container
// networks use '_'), no label empty, longer than 63 or starting/ending with '-', 253 bytes at
// most. An optional leading "*." when `allow_wildcard`. IPv4 literals pass too.
bool isValidHostName(std::string_view name, bool allow_wildcard = false);

}  // namespace stepgate::config
