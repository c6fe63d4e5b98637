#pragma once
// Strict reading of YAML nodes, with every error reported as "FILE:LINE:COL: message" (1-based,
// the position of the offending node). A YamlSource names one document; it holds no other state,
// so a const YamlSource may be used from any thread. Nothing here throws on bad input; callers
// must still catch yaml-cpp exceptions at their own boundary, as yaml-cpp may throw on misuse.
//
// This header only forward-declares YAML::Node, so it can be included anywhere; the .cc files
// that call the node readers include <yaml-cpp/yaml.h> themselves. The text parsers at the end
// (durations, sizes, edit distance) need no yaml-cpp at all.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "config/schema.h"

namespace YAML {
class Node;
}  // namespace YAML

namespace stepgate::config {

class YamlSource {
 public:
  explicit YamlSource(std::string name) : name_(std::move(name)) {}

  const std::string& name() const { return name_; }

  // "FILE:LINE:COL", or "FILE" when the node has no position (e.g. a missing key).
  std::string position(const YAML::Node& node) const;

  // InvalidArgument("FILE:LINE:COL: message").
  [[nodiscard]] Status error(const YAML::Node& node, std::string_view message) const;

  // Parses exactly one YAML document. Syntax errors carry the parser's position.
  [[nodiscard]] Status parse(std::string_view text, YAML::Node& root) const;

  // Checks that `node` is a map whose keys are plain scalars, none repeated, each in `known`,
  // and whose values are not empty (null). An unknown key within edit distance 2 of a known
  // one (see closestMatch) gets "did you mean 'x'?".
  [[nodiscard]] Status checkMap(const YAML::Node& node,
                                std::initializer_list<std::string_view> known) const;
  // Same for a map whose keys are names chosen by the user (e.g. upstreams): any key is
  // allowed, but it must be a non-empty plain scalar and must not repeat.
  [[nodiscard]] Status checkNamedMap(const YAML::Node& node) const;

  // Value readers: `node` is the value itself. On error `out` is unchanged.
  [[nodiscard]] Status readString(const YAML::Node& node, std::string& out) const;
  [[nodiscard]] Status readBool(const YAML::Node& node, bool& out) const;
  [[nodiscard]] Status readUint(const YAML::Node& node, uint64_t max, uint64_t& out) const;
  [[nodiscard]] Status readDuration(const YAML::Node& node, Duration& out) const;
  [[nodiscard]] Status readSize(const YAML::Node& node, uint64_t max, uint64_t& out) const;
  [[nodiscard]] Status readStringList(const YAML::Node& node,
                                      std::vector<std::string>& out) const;

  // Optional keys of a checked map: when `key` is present its value is read into `out`,
  // otherwise `out` keeps its default.
  [[nodiscard]] Status optString(const YAML::Node& map, std::string_view key,
                                 std::string& out) const;
  [[nodiscard]] Status optBool(const YAML::Node& map, std::string_view key, bool& out) const;
  [[nodiscard]] Status optUint32(const YAML::Node& map, std::string_view key,
                                 uint32_t& out) const;
  [[nodiscard]] Status optDuration(const YAML::Node& map, std::string_view key,
                                   Duration& out) const;
  [[nodiscard]] Status optSize32(const YAML::Node& map, std::string_view key,
                                 uint32_t& out) const;
  [[nodiscard]] Status optSize64(const YAML::Node& map, std::string_view key,
                                 uint64_t& out) const;

  // A key that must be present: InvalidArgument at the map's position otherwise.
  [[nodiscard]] Status require(const YAML::Node& map, std::string_view key) const;

 private:
  [[nodiscard]] Status checkKeys(const YAML::Node& node,
                                 const std::initializer_list<std::string_view>* known) const;

  std::string name_;
};

// "500ms", "10s", "2m", "1h": a non-negative integer and a unit. Nothing else is accepted
// (no bare numbers, signs, fractions, spaces or combined units); nullopt also on overflow.
std::optional<Duration> parseDuration(std::string_view text);

// "65536", "64KiB", "16MiB", "1GiB": a non-negative integer of bytes with an optional binary
// unit. nullopt on anything else or on overflow of uint64_t.
std::optional<uint64_t> parseSize(std::string_view text);

// Optimal-string-alignment distance (insertions, deletions, substitutions, transpositions).
size_t editDistance(std::string_view a, std::string_view b);

// The candidate closest to `word` within distance 2, or "" when none is that close. A match
// must also keep more than half of the longer word (no "log" for "foo").
std::string closestMatch(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace stepgate::config
