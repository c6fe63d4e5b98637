#include "common/json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace stepgate {

const JsonValue* JsonValue::find(std::string_view name) const noexcept {
  if (!isObject()) return nullptr;
  for (const JsonMember& m : asObject()) {
    if (m.name == name) return &m.value;
  }
  return nullptr;
}

namespace {

// Parses an RFC 6901 array index: "0" or [1-9][0-9]*, no sign, no leading zero.
bool parseIndex(std::string_view token, size_t& out) noexcept {
  if (token.empty() || token.size() > 18) return false;
  if (token.size() > 1 && token[0] == '0') return false;
  size_t v = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  out = v;
  return true;
}

// Unescapes one reference token (~1 → '/', ~0 → '~'); false on a bad escape.
bool unescapeToken(std::string_view raw, std::string& out) {
  out.clear();
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '~') {
      out.push_back(raw[i]);
      continue;
    }
    if (i + 1 >= raw.size()) return false;
    if (raw[i + 1] == '0') {
      out.push_back('~');
    } else if (raw[i + 1] == '1') {
      out.push_back('/');
    } else {
      return false;
    }
    ++i;
  }
  return true;
}

}  // namespace

const JsonValue* JsonValue::at(std::string_view pointer) const noexcept {
  const JsonValue* cur = this;
  if (pointer.empty()) return cur;
  if (pointer[0] != '/') return nullptr;
  std::string token;
  size_t pos = 1;
  while (true) {
    size_t slash = pointer.find('/', pos);
    std::string_view raw = pointer.substr(pos, slash == std::string_view::npos
                                                   ? std::string_view::npos
                                                   : slash - pos);
    if (!unescapeToken(raw, token)) return nullptr;
    if (cur->isObject()) {
      cur = cur->find(token);
    } else if (cur->isArray()) {
      size_t index = 0;
      if (!parseIndex(token, index) || index >= cur->asArray().size()) return nullptr;
      cur = &cur->asArray()[index];
    } else {
      return nullptr;
    }
    if (cur == nullptr) return nullptr;
    if (slash == std::string_view::npos) return cur;
    pos = slash + 1;
  }
}

namespace {

// True iff `s` holds a UTF-8 encoded surrogate (U+D800..U+DFFF), which RapidJSON lets
// through from a lone "\uDC00" escape. Raw input bytes are validated by RapidJSON itself.
bool hasEncodedSurrogate(const char* s, size_t n) noexcept {
  if (n == 0) return false;  // s may be null then, which memchr must not see
  const void* p = std::memchr(s, '\xED', n);
  while (p != nullptr) {
    size_t i = static_cast<const char*>(p) - s;
    if (i + 1 < n && static_cast<unsigned char>(s[i + 1]) >= 0xA0) return true;
    if (i + 1 >= n) return false;
    p = std::memchr(s + i + 1, '\xED', n - i - 1);
  }
  return false;
}

// Builds a JsonValue tree from RapidJSON SAX events. Returning false stops the parse;
// `error_` then says why (kSyntax when RapidJSON itself failed).
class TreeBuilder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, TreeBuilder> {
 public:
  explicit TreeBuilder(uint32_t max_depth) : max_depth_(max_depth) {}

  bool Null() { return add(JsonValue()); }
  bool Bool(bool b) { return add(JsonValue(b)); }
  bool Int(int i) { return add(JsonValue(static_cast<int64_t>(i))); }
  bool Uint(unsigned u) { return add(JsonValue(static_cast<int64_t>(u))); }
  bool Int64(int64_t i) { return add(JsonValue(i)); }
  bool Uint64(uint64_t u) {
    if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return add(JsonValue(static_cast<int64_t>(u)));
    }
    return add(JsonValue(static_cast<double>(u)));
  }
  bool Double(double d) {
    // RapidJSON refuses "1e400", but a long mantissa with a large exponent
    // ("1234567890123456789012345e300") can still overflow to infinity.
    if (!std::isfinite(d)) {
      out_of_range_ = true;
      return fail(JsonError::kSyntax);
    }
    return add(JsonValue(d));
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (hasEncodedSurrogate(s, n)) return fail(JsonError::kSyntax);
    return add(JsonValue(std::string(s, n)));
  }
  bool StartObject() { return open(true); }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (hasEncodedSurrogate(s, n)) return fail(JsonError::kSyntax);
    // The value arrives next and fills this member (see add()).
    frames_.back().object.push_back(JsonMember{std::string(s, n), JsonValue()});
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    if (!uniqueNames(frames_.back().object)) return fail(JsonError::kDuplicateMember);
    return close();
  }
  bool StartArray() { return open(false); }
  bool EndArray(rapidjson::SizeType) { return close(); }

  JsonError error() const noexcept { return error_; }
  bool outOfRange() const noexcept { return out_of_range_; }
  JsonValue takeRoot() { return std::move(root_); }

 private:
  // A container under construction. JsonValue is immutable once built, so containers are
  // collected here and wrapped into a JsonValue when they close.
  struct Frame {
    bool is_object;
    JsonValue::Array array;
    JsonValue::Object object;
  };

  bool fail(JsonError e) {
    error_ = e;
    return false;
  }

  bool open(bool is_object) {
    if (frames_.size() >= max_depth_) return fail(JsonError::kTooDeep);
    frames_.push_back(Frame{is_object, {}, {}});
    return true;
  }

  bool add(JsonValue&& v) {
    if (frames_.empty()) {
      root_ = std::move(v);
      return true;
    }
    Frame& f = frames_.back();
    if (f.is_object) {
      f.object.back().value = std::move(v);
    } else {
      f.array.push_back(std::move(v));
    }
    return true;
  }

  bool close() {
    Frame f = std::move(frames_.back());
    frames_.pop_back();
    if (f.is_object) return add(JsonValue(std::move(f.object)));
    return add(JsonValue(std::move(f.array)));
  }

  static bool uniqueNames(const JsonValue::Object& members) {
    const size_t n = members.size();
    if (n < 2) return true;
    if (n <= 16) {
      for (size_t i = 0; i < n; ++i) {
        for (size_t j = i + 1; j < n; ++j) {
          if (members[i].name == members[j].name) return false;
        }
      }
      return true;
    }
    std::vector<std::string_view> names;
    names.reserve(n);
    for (const JsonMember& m : members) names.emplace_back(m.name);
    std::sort(names.begin(), names.end());
    return std::adjacent_find(names.begin(), names.end()) == names.end();
  }

  uint32_t max_depth_;
  JsonError error_ = JsonError::kNone;
  bool out_of_range_ = false;
  JsonValue root_;
  std::vector<Frame> frames_;
};

}  // namespace

StatusOr<JsonValue> parseJson(std::string_view text, const JsonLimits& limits,
                              JsonError* error) noexcept {
  JsonError ignored;
  JsonError& reason = error != nullptr ? *error : ignored;
  reason = JsonError::kNone;
  if (text.size() > limits.max_bytes) {
    reason = JsonError::kTooLarge;
    return invalidArgument("json: input of " + std::to_string(text.size()) +
                           " bytes exceeds the limit of " + std::to_string(limits.max_bytes));
  }
  // RapidJSON's streams treat a NUL byte as the end of input; a raw NUL is never valid JSON.
  if (text.empty()) {  // data() may be null: keep it away from memchr and RapidJSON
    reason = JsonError::kSyntax;
    return invalidArgument("json: empty input");
  }
  if (std::memchr(text.data(), '\0', text.size()) != nullptr) {
    reason = JsonError::kSyntax;
    return invalidArgument("json: NUL byte in input");
  }
  rapidjson::MemoryStream stream(text.data(), text.size());
  rapidjson::Reader reader;
  TreeBuilder builder(limits.max_depth);
  rapidjson::ParseResult result =
      reader.Parse<rapidjson::kParseValidateEncodingFlag>(stream, builder);
  if (!result.IsError()) return builder.takeRoot();
  const std::string at = " at offset " + std::to_string(result.Offset());
  switch (builder.error()) {
    case JsonError::kDuplicateMember:
      reason = JsonError::kDuplicateMember;
      return invalidArgument("json: duplicate member name" + at);
    case JsonError::kTooDeep:
      reason = JsonError::kTooDeep;
      return invalidArgument("json: nesting deeper than " + std::to_string(limits.max_depth) +
                             at);
    default:
      reason = JsonError::kSyntax;
      if (builder.outOfRange()) {
        return invalidArgument("json: number out of range" + at);
      }
      if (builder.error() == JsonError::kSyntax) {
        return invalidArgument("json: invalid string (surrogate code point)" + at);
      }
      return invalidArgument(std::string("json: ") +
                             rapidjson::GetParseError_En(result.Code()) + at);
  }
}

}  // namespace stepgate
