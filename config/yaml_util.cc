#include "config/yaml_util.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>

namespace stepgate::config {
namespace {

constexpr int64_t kMaxDurationMs = int64_t{8760} * 3600 * 1000;  // one year

const char* const kDurationHint = "expected a duration like 500ms, 10s, 2m, 1h";
const char* const kSizeHint = "expected a size like 65536, 64KiB, 16MiB, 1GiB";

// Parses a run of decimal digits at the start of `text`. Returns the digits consumed (0 when
// none); sets `overflow` when the value does not fit.
size_t leadingUint(std::string_view text, uint64_t& value, bool& overflow) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    ++i;
  }
  if (i == 0) {
    return 0;
  }
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, value);
  overflow = ec == std::errc::result_out_of_range;
  return i;
}

// Parses "<digits><unit>" where unit is looked up in `units` (multipliers). Returns nullopt
// when the form is wrong; sets `overflow` (and returns nullopt) when the form is right but
// value * multiplier exceeds `max`.
template <size_t N>
std::optional<uint64_t> parseScaled(std::string_view text,
                                    const std::pair<std::string_view, uint64_t> (&units)[N],
                                    uint64_t max, bool& overflow) {
  overflow = false;
  uint64_t value = 0;
  const size_t digits = leadingUint(text, value, overflow);
  if (digits == 0) {
    return std::nullopt;
  }
  const std::string_view unit = text.substr(digits);
  for (const auto& [name, multiplier] : units) {
    if (unit != name) {
      continue;
    }
    if (overflow || value > max / multiplier) {
      overflow = true;
      return std::nullopt;
    }
    return value * multiplier;
  }
  overflow = false;
  return std::nullopt;
}

constexpr std::pair<std::string_view, uint64_t> kDurationUnits[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}};
constexpr std::pair<std::string_view, uint64_t> kSizeUnits[] = {
    {"", 1}, {"KiB", uint64_t{1} << 10}, {"MiB", uint64_t{1} << 20}, {"GiB", uint64_t{1} << 30}};

// A short description of a node for "expected X, got Y" messages.
std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) {
    return "nothing";
  }
  if (node.IsMap()) {
    return "a map";
  }
  if (node.IsSequence()) {
    return "a list";
  }
  std::string text = node.Scalar();
  if (text.size() > 40) {
    text = text.substr(0, 37) + "...";
  }
  // A quoted "64" is a string to YAML; say so, or "expected an integer, got '64'" puzzles.
  return (node.Tag() == "?" ? "'" : "the quoted string '") + text + "'";
}

bool isPlainScalar(const YAML::Node& node) { return node.IsScalar() && node.Tag() == "?"; }

std::string joinKeys(std::initializer_list<std::string_view> keys) {
  std::string out;
  for (std::string_view k : keys) {
    if (!out.empty()) {
      out += ", ";
    }
    out += k;
  }
  return out;
}

}  // namespace

std::optional<Duration> parseDuration(std::string_view text) {
  bool overflow = false;
  auto ms = parseScaled(text, kDurationUnits, kMaxDurationMs, overflow);
  if (!ms) {
    return std::nullopt;
  }
  return Duration(static_cast<int64_t>(*ms));
}

std::optional<uint64_t> parseSize(std::string_view text) {
  bool overflow = false;
  return parseScaled(text, kSizeUnits, std::numeric_limits<uint64_t>::max(), overflow);
}

size_t editDistance(std::string_view a, std::string_view b) {
  // Three rolling rows are enough for the transposition rule.
  std::vector<size_t> prev2(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    prev[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
      }
    }
    prev2.swap(prev);
    prev.swap(cur);
  }
  return prev[b.size()];
}

std::string closestMatch(std::string_view word, const std::vector<std::string_view>& candidates) {
  size_t best = 3;
  std::string_view match;
  for (std::string_view c : candidates) {
    const size_t d = editDistance(word, c);
    // Two edits to a three-letter word leave one letter in common: not a useful hint.
    if (d < best && 2 * d < std::max(word.size(), c.size())) {
      best = d;
      match = c;
    }
  }
  return std::string(match);
}

std::string YamlSource::position(const YAML::Node& node) const {
  if (!node.IsDefined()) {
    return name_;
  }
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) {
    return name_;
  }
  return name_ + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

Status YamlSource::error(const YAML::Node& node, std::string_view message) const {
  return invalidArgument(position(node) + ": " + std::string(message));
}

Status YamlSource::parse(std::string_view text, YAML::Node& root) const {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return invalidArgument(name_ + ":" + std::to_string(e.mark.line + 1) + ":" +
                           std::to_string(e.mark.column + 1) + ": YAML syntax error: " + e.msg);
  }
  if (docs.empty() || docs[0].IsNull()) {
    return invalidArgument(name_ + ":1:1: the config is empty");
  }
  if (docs.size() > 1) {
    return error(docs[1], "only one YAML document is allowed in a config file");
  }
  root = docs[0];
  return okStatus();
}

Status YamlSource::checkKeys(const YAML::Node& node,
                             const std::initializer_list<std::string_view>* known) const {
  if (!node.IsMap()) {
    return error(node, "expected a map, got " + describe(node));
  }
  std::map<std::string, YAML::Node, std::less<>> seen;
  for (const auto& pair : node) {
    const YAML::Node key = pair.first;
    // No key of ours takes an empty value, and yaml-cpp positions an empty value at the next
    // token, so report it here, at its key.
    if (pair.second.IsNull() && key.IsScalar()) {
      return error(key, "'" + key.Scalar() + "' has no value");
    }
    if (!key.IsScalar() || key.Scalar().empty()) {
      return error(key, "expected a plain, non-empty key, got " + describe(key));
    }
    const std::string& name = key.Scalar();
    if (auto prev = seen.find(name); prev != seen.end()) {
      const YAML::Mark first = prev->second.Mark();
      return error(key, "duplicate key '" + name + "' (first at line " +
                            std::to_string(first.line + 1) + ", column " +
                            std::to_string(first.column + 1) + ")");
    }
    seen.emplace(name, key);
    if (known == nullptr || std::find(known->begin(), known->end(), name) != known->end()) {
      continue;
    }
    const std::string hint = closestMatch(name, std::vector<std::string_view>(*known));
    if (!hint.empty()) {
      return error(key, "unknown key '" + name + "' (did you mean '" + hint + "'?)");
    }
    return error(key, "unknown key '" + name + "'; expected one of: " + joinKeys(*known));
  }
  return okStatus();
}

Status YamlSource::checkMap(const YAML::Node& node,
                            std::initializer_list<std::string_view> known) const {
  return checkKeys(node, &known);
}

Status YamlSource::checkNamedMap(const YAML::Node& node) const {
  return checkKeys(node, nullptr);
}

Status YamlSource::readString(const YAML::Node& node, std::string& out) const {
  if (!node.IsScalar()) {
    return error(node, "expected a string, got " + describe(node));
  }
  out = node.Scalar();
  return okStatus();
}

Status YamlSource::readBool(const YAML::Node& node, bool& out) const {
  if (isPlainScalar(node)) {
    if (node.Scalar() == "true") {
      out = true;
      return okStatus();
    }
    if (node.Scalar() == "false") {
      out = false;
      return okStatus();
    }
  }
  return error(node, "expected a boolean (true/false), got " + describe(node));
}

Status YamlSource::readUint(const YAML::Node& node, uint64_t max, uint64_t& out) const {
  if (isPlainScalar(node)) {
    const std::string& text = node.Scalar();
    uint64_t value = 0;
    bool overflow = false;
    const size_t digits = leadingUint(text, value, overflow);
    if (digits > 0 && digits == text.size()) {
      if (overflow || value > max) {
        return error(node, "out of range (at most " + std::to_string(max) + ")");
      }
      out = value;
      return okStatus();
    }
    if (!text.empty() && text[0] == '-') {
      return error(node, "expected an integer that is not negative, got " + describe(node));
    }
  }
  return error(node, "expected an integer, got " + describe(node));
}

Status YamlSource::readDuration(const YAML::Node& node, Duration& out) const {
  if (node.IsScalar()) {
    bool overflow = false;
    auto ms = parseScaled(node.Scalar(), kDurationUnits, kMaxDurationMs, overflow);
    if (ms) {
      out = Duration(static_cast<int64_t>(*ms));
      return okStatus();
    }
    if (overflow) {
      return error(node, "duration out of range (at most 8760h)");
    }
  }
  return error(node, std::string(kDurationHint) + ", got " + describe(node));
}

Status YamlSource::readSize(const YAML::Node& node, uint64_t max, uint64_t& out) const {
  if (node.IsScalar()) {
    bool overflow = false;
    auto bytes = parseScaled(node.Scalar(), kSizeUnits, max, overflow);
    if (bytes) {
      out = *bytes;
      return okStatus();
    }
    if (overflow) {
      return error(node, "size out of range (at most " + std::to_string(max) + " bytes)");
    }
  }
  return error(node, std::string(kSizeHint) + ", got " + describe(node));
}

Status YamlSource::readStringList(const YAML::Node& node, std::vector<std::string>& out) const {
  if (!node.IsSequence()) {
    return error(node, "expected a list of strings, got " + describe(node));
  }
  std::vector<std::string> items;
  for (const YAML::Node& item : node) {
    std::string value;
    RETURN_IF_ERROR(readString(item, value));
    items.push_back(std::move(value));
  }
  out = std::move(items);
  return okStatus();
}

Status YamlSource::optString(const YAML::Node& map, std::string_view key,
                             std::string& out) const {
  const YAML::Node node = map[std::string(key)];
  return node.IsDefined() ? readString(node, out) : okStatus();
}

Status YamlSource::optBool(const YAML::Node& map, std::string_view key, bool& out) const {
  const YAML::Node node = map[std::string(key)];
  return node.IsDefined() ? readBool(node, out) : okStatus();
}

Status YamlSource::optUint32(const YAML::Node& map, std::string_view key, uint32_t& out) const {
  const YAML::Node node = map[std::string(key)];
  if (!node.IsDefined()) {
    return okStatus();
  }
  uint64_t value = 0;
  RETURN_IF_ERROR(readUint(node, std::numeric_limits<uint32_t>::max(), value));
  out = static_cast<uint32_t>(value);
  return okStatus();
}

Status YamlSource::optDuration(const YAML::Node& map, std::string_view key,
                               Duration& out) const {
  const YAML::Node node = map[std::string(key)];
  return node.IsDefined() ? readDuration(node, out) : okStatus();
}

Status YamlSource::optSize32(const YAML::Node& map, std::string_view key, uint32_t& out) const {
  const YAML::Node node = map[std::string(key)];
  if (!node.IsDefined()) {
    return okStatus();
  }
  uint64_t value = 0;
  RETURN_IF_ERROR(readSize(node, std::numeric_limits<uint32_t>::max(), value));
  out = static_cast<uint32_t>(value);
  return okStatus();
}

Status YamlSource::optSize64(const YAML::Node& map, std::string_view key, uint64_t& out) const {
  const YAML::Node node = map[std::string(key)];
  return node.IsDefined() ? readSize(node, std::numeric_limits<uint64_t>::max(), out)
                          : okStatus();
}

Status YamlSource::require(const YAML::Node& map, std::string_view key) const {
  if (map[std::string(key)].IsDefined()) {
    return okStatus();
  }
  return error(map, "missing required key '" + std::string(key) + "'");
}

}  // namespace stepgate::config
