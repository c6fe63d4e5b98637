// libFuzzer target for the strict JSON parser (identity/json.h) and JSON pointer lookups.
//
// The whole input is the JSON text; byte 0 also picks a second, small set of limits.
// Checked beyond "no crash, no sanitizer report":
//  - success and the reported error agree (kNone exactly on success);
//  - a parsed tree nests no deeper than max_depth (the root container is depth 1), every
//    object has unique member names at every depth, and every string and name is valid
//    UTF-8 without encoded surrogates;
//  - the JSON pointer of every node (escaped with ~0/~1) finds exactly that node, find()
//    finds every member, and malformed pointers (bad escape, leading-zero or out-of-range
//    index, no leading '/') find nothing;
//  - pointers taken from the input and from the tree's strings find nothing or a node;
//  - writing the tree out and parsing it again gives the same tree;
//  - the small limits accept exactly what the default limits accept within them.

#include "tests/fuzz/fuzz_check.h"
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/json.h"

namespace {

using stepgate::JsonError;
using stepgate::JsonLimits;
using stepgate::JsonMember;
using stepgate::JsonType;
using stepgate::JsonValue;
using stepgate::parseJson;


constexpr size_t kMaxNodesChecked = 4096;  // pointer checks per input, to bound the time

// Valid UTF-8 (RFC 3629): shortest form, no surrogates, nothing above U+10FFFF.
bool validUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      len = 2;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4;
      cp = b & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    const uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

std::string escapeToken(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

struct Walk {
  const JsonValue* root = nullptr;
  std::unordered_set<const JsonValue*> nodes;
  std::vector<const std::string*> strings;
  size_t checked = 0;
};

// Depth of `v` (0 for scalars); checks names, strings and pointers on the way down.
uint32_t walk(const JsonValue& v, const std::string& pointer, Walk& w) {
  w.nodes.insert(&v);
  if (w.checked < kMaxNodesChecked) {
    ++w.checked;
    FUZZ_CHECK(w.root->at(pointer) == &v);
  }
  switch (v.type()) {
    case JsonType::kString:
      FUZZ_CHECK(validUtf8(v.asString()));
      w.strings.push_back(&v.asString());
      return 0;
    case JsonType::kDouble:
      FUZZ_CHECK(std::isfinite(v.asDouble()));
      return 0;
    case JsonType::kArray: {
      const JsonValue::Array& a = v.asArray();
      uint32_t deepest = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        deepest = std::max(deepest, walk(a[i], pointer + "/" + std::to_string(i), w));
      }
      if (w.checked < kMaxNodesChecked) {
        FUZZ_CHECK(w.root->at(pointer + "/" + std::to_string(a.size())) == nullptr);
        FUZZ_CHECK(w.root->at(pointer + "/-") == nullptr);
        FUZZ_CHECK(w.root->at(pointer + "/+0") == nullptr);
        if (!a.empty()) {
          FUZZ_CHECK(w.root->at(pointer + "/00") == nullptr);
          FUZZ_CHECK(w.root->at(pointer + "/0" + std::to_string(a.size() - 1)) == nullptr);
        }
      }
      return deepest + 1;
    }
    case JsonType::kObject: {
      const JsonValue::Object& o = v.asObject();
      std::unordered_set<std::string_view> names;
      uint32_t deepest = 0;
      for (const JsonMember& m : o) {
        FUZZ_CHECK(names.insert(m.name).second);  // unique at every depth
        FUZZ_CHECK(validUtf8(m.name));
        FUZZ_CHECK(v.find(m.name) == &m.value);
        w.strings.push_back(&m.name);
        deepest = std::max(deepest, walk(m.value, pointer + "/" + escapeToken(m.name), w));
      }
      if (w.checked < kMaxNodesChecked) {
        FUZZ_CHECK(w.root->at(pointer + "/~2") == nullptr);
        FUZZ_CHECK(w.root->at(pointer + "/~") == nullptr);
      }
      return deepest + 1;
    }
    default:
      return 0;
  }
}

void writeString(std::string_view s, std::string& out) {
  out.push_back('"');
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (b < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", b);
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

void write(const JsonValue& v, std::string& out) {
  char buf[40];
  switch (v.type()) {
    case JsonType::kNull:
      out += "null";
      break;
    case JsonType::kBool:
      out += v.asBool() ? "true" : "false";
      break;
    case JsonType::kInt:
      std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(v.asInt()));
      out += buf;
      break;
    case JsonType::kDouble:
      std::snprintf(buf, sizeof(buf), "%.17g", v.asDouble());
      out += buf;
      break;
    case JsonType::kString:
      writeString(v.asString(), out);
      break;
    case JsonType::kArray: {
      out.push_back('[');
      bool first = true;
      for (const JsonValue& e : v.asArray()) {
        if (!first) out.push_back(',');
        first = false;
        write(e, out);
      }
      out.push_back(']');
      break;
    }
    case JsonType::kObject: {
      out.push_back('{');
      bool first = true;
      for (const JsonMember& m : v.asObject()) {
        if (!first) out.push_back(',');
        first = false;
        writeString(m.name, out);
        out.push_back(':');
        write(m.value, out);
      }
      out.push_back('}');
      break;
    }
  }
}

double asNumber(const JsonValue& v) {
  return v.isInt() ? static_cast<double>(v.asInt()) : v.asDouble();
}

bool same(const JsonValue& a, const JsonValue& b) {
  if (a.isNumber() && b.isNumber()) {
    if (a.isInt() && b.isInt()) return a.asInt() == b.asInt();
    // Numbers are written with 17 significant digits; RapidJSON's default (not full
    // precision) double parsing may land one unit in the last place away.
    const double x = asNumber(a);
    const double y = asNumber(b);
    return x == y || std::fabs(x - y) <= 1e-15 * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case JsonType::kNull:
      return true;
    case JsonType::kBool:
      return a.asBool() == b.asBool();
    case JsonType::kString:
      return a.asString() == b.asString();
    case JsonType::kArray: {
      const JsonValue::Array& x = a.asArray();
      const JsonValue::Array& y = b.asArray();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!same(x[i], y[i])) return false;
      }
      return true;
    }
    case JsonType::kObject: {
      const JsonValue::Object& x = a.asObject();
      const JsonValue::Object& y = b.asObject();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (x[i].name != y[i].name || !same(x[i].value, y[i].value)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const JsonLimits limits;

  JsonError why = JsonError::kTooDeep;
  auto parsed = parseJson(text, limits, &why);
  FUZZ_CHECK(parsed.isOk() == (why == JsonError::kNone));
  FUZZ_CHECK(why != JsonError::kTooLarge);  // the fuzzer's inputs are far below 1 MiB

  uint32_t depth = 0;
  if (parsed.isOk()) {
    const JsonValue& root = *parsed;
    Walk w;
    w.root = &root;
    depth = walk(root, "", w);
    FUZZ_CHECK(depth <= limits.max_depth);
    FUZZ_CHECK(root.at("x") == nullptr);  // no leading '/'
    FUZZ_CHECK(root.at("") == &root);

    // Pointers from the input and from the tree's strings: nothing, or a node of the tree.
    const JsonValue* hit = root.at(text);
    FUZZ_CHECK(hit == nullptr || w.nodes.count(hit) == 1);
    for (size_t i = 0; i < w.strings.size() && i < 256; ++i) {
      hit = root.at(*w.strings[i]);
      FUZZ_CHECK(hit == nullptr || w.nodes.count(hit) == 1);
    }

    // Written out and parsed again: the same tree.
    std::string again;
    write(root, again);
    auto reparsed = parseJson(again, limits);
    FUZZ_CHECK(reparsed.isOk());
    FUZZ_CHECK(same(root, *reparsed));
  }

  // Small limits from byte 0: they accept exactly what the defaults accept within them.
  JsonLimits small;
  small.max_depth = size > 0 ? 1 + data[0] % 8 : 1;
  small.max_bytes = 64 + (size > 1 ? data[1] : 0) * 4;
  JsonError small_why = JsonError::kNone;
  auto small_parsed = parseJson(text, small, &small_why);
  FUZZ_CHECK(small_parsed.isOk() == (small_why == JsonError::kNone));
  if (small_parsed.isOk()) {
    FUZZ_CHECK(parsed.isOk());
    FUZZ_CHECK(same(*parsed, *small_parsed));
  }
  if (parsed.isOk()) {
    const bool fits = depth <= small.max_depth && size <= small.max_bytes;
    FUZZ_CHECK(small_parsed.isOk() == fits);
    if (!fits) {
      FUZZ_CHECK(small_why == (size > small.max_bytes ? JsonError::kTooLarge
                                                      : JsonError::kTooDeep));
    }
  } else if (small_why != JsonError::kTooLarge && small_why != JsonError::kTooDeep) {
    // A document that fails on its content fails the same way under any limits that let
    // the parser reach the failure; the small limits stop it earlier or not at all.
    FUZZ_CHECK(small_why == why);
  }
  return 0;
}
