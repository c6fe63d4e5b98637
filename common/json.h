#pragma once
// JsonValue: a small, strict, immutable-after-parse JSON tree for untrusted input (JWT
// headers and claims, JWKS documents, later request bodies). parseJson() accepts exactly
// RFC 8259 JSON in valid UTF-8 and rejects, as errors rather than by picking one: duplicate
// member names in any object at any depth, nesting deeper than a limit, input over a size
// limit, NaN/Infinity, comments, trailing commas and anything after the root value.
//
// Integers that fit int64 are kept as kInt; every other number (fractions, exponents,
// integers outside int64) is kDouble. Object members keep their document order. A parsed
// value owns all its data and may be read from any thread; it is not modified after parse.
// Parsing never throws (allocation failure aside) and allocates only the tree itself.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"

namespace stepgate {

class JsonValue;
struct JsonMember;

enum class JsonType : unsigned char { kNull, kBool, kInt, kDouble, kString, kArray, kObject };

class JsonValue {
 public:
  using Array = std::vector<JsonValue>;
  using Object = std::vector<JsonMember>;  // document order; names are unique

  // The constructors are defined after JsonMember: clang instantiates the variant's
  // destructor in each of them, which needs JsonMember complete.
  JsonValue() noexcept = default;  // null
  explicit JsonValue(bool b) noexcept;
  explicit JsonValue(int64_t i) noexcept;
  explicit JsonValue(double d) noexcept;
  explicit JsonValue(std::string s) noexcept;
  explicit JsonValue(Array a) noexcept;
  explicit JsonValue(Object o) noexcept;

  JsonType type() const noexcept { return static_cast<JsonType>(v_.index()); }
  bool isNull() const noexcept { return type() == JsonType::kNull; }
  bool isBool() const noexcept { return type() == JsonType::kBool; }
  bool isInt() const noexcept { return type() == JsonType::kInt; }
  bool isDouble() const noexcept { return type() == JsonType::kDouble; }
  bool isNumber() const noexcept { return isInt() || isDouble(); }
  bool isString() const noexcept { return type() == JsonType::kString; }
  bool isArray() const noexcept { return type() == JsonType::kArray; }
  bool isObject() const noexcept { return type() == JsonType::kObject; }

  // REQUIRES: the matching is*() is true.
  bool asBool() const noexcept { return std::get<bool>(v_); }
  int64_t asInt() const noexcept { return std::get<int64_t>(v_); }
  double asDouble() const noexcept { return std::get<double>(v_); }
  const std::string& asString() const noexcept { return std::get<std::string>(v_); }
  const Array& asArray() const noexcept { return std::get<Array>(v_); }
  const Object& asObject() const noexcept { return std::get<Object>(v_); }

  // The member `name` of an object; nullptr if this is not an object or has no such member.
  const JsonValue* find(std::string_view name) const noexcept;

  // RFC 6901 JSON pointer lookup ("" is this value, "/a/0/b~1c" walks members and array
  // indices, ~1 is '/', ~0 is '~'). nullptr when the pointer is malformed (does not start
  // with '/', a '~' not followed by 0 or 1, an index with a leading zero or sign) or names
  // nothing.
  const JsonValue* at(std::string_view pointer) const noexcept;

 private:
  // The index order must match JsonType.
  std::variant<std::monostate, bool, int64_t, double, std::string, Array, Object> v_;
};

struct JsonMember {
  std::string name;
  JsonValue value;
};

inline JsonValue::JsonValue(bool b) noexcept : v_(b) {}
inline JsonValue::JsonValue(int64_t i) noexcept : v_(i) {}
inline JsonValue::JsonValue(double d) noexcept : v_(d) {}
inline JsonValue::JsonValue(std::string s) noexcept : v_(std::move(s)) {}
inline JsonValue::JsonValue(Array a) noexcept : v_(std::move(a)) {}
inline JsonValue::JsonValue(Object o) noexcept : v_(std::move(o)) {}

// Why a parse failed, for callers that map failures to their own error codes.
enum class JsonError : unsigned char {
  kNone,
  kSyntax,           // not JSON (includes invalid UTF-8 and trailing content)
  kDuplicateMember,  // an object names a member twice
  kTooDeep,          // nesting beyond JsonLimits::max_depth
  kTooLarge,         // input beyond JsonLimits::max_bytes
};

struct JsonLimits {
  size_t max_bytes = 1 << 20;
  uint32_t max_depth = 32;  // arrays and objects; the root container is depth 1
};

// Parses `text` strictly (see the header comment). On failure returns InvalidArgument with
// a short description and the byte offset, and sets `*error` (if given) to the reason.
[[nodiscard]] StatusOr<JsonValue> parseJson(std::string_view text, const JsonLimits& limits = {},
                                            JsonError* error = nullptr) noexcept;

}  // namespace stepgate
