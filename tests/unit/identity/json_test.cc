#include "common/json.h"

#include <gtest/gtest.h>

#include <string>

namespace stepgate::identity {
namespace {

JsonError errorOf(std::string_view text, JsonLimits limits = {}) {
  JsonError e = JsonError::kNone;
  StatusOr<JsonValue> v = parseJson(text, limits, &e);
  EXPECT_EQ(v.isOk(), e == JsonError::kNone) << text;
  return e;
}

TEST(JsonTest, ParsesEveryType) {
  StatusOr<JsonValue> v = parseJson(
      R"({"n":null,"t":true,"f":false,"i":-42,"big":9223372036854775807,"u":18446744073709551615,)"
      R"("d":1.5,"e":1e3,"s":"h\u00e9\n","a":[1,"x",{}],"o":{"k":[]}})");
  ASSERT_TRUE(v.isOk()) << v.status().toString();
  EXPECT_TRUE(v->find("n")->isNull());
  EXPECT_TRUE(v->find("t")->asBool());
  EXPECT_FALSE(v->find("f")->asBool());
  EXPECT_EQ(v->find("i")->asInt(), -42);
  EXPECT_EQ(v->find("big")->asInt(), INT64_MAX);
  ASSERT_TRUE(v->find("u")->isDouble());  // beyond int64
  EXPECT_DOUBLE_EQ(v->find("u")->asDouble(), 18446744073709551615.0);
  ASSERT_TRUE(v->find("d")->isDouble());
  EXPECT_DOUBLE_EQ(v->find("d")->asDouble(), 1.5);
  ASSERT_TRUE(v->find("e")->isDouble());  // an exponent is never an integer
  EXPECT_TRUE(v->find("e")->isNumber());
  EXPECT_EQ(v->find("s")->asString(), "h\xC3\xA9\n");
  ASSERT_EQ(v->find("a")->asArray().size(), 3u);
  EXPECT_TRUE(v->find("a")->asArray()[2].isObject());
  EXPECT_EQ(v->find("missing"), nullptr);
  EXPECT_EQ(v->find("a")->find("x"), nullptr);  // not an object
  ASSERT_EQ(v->asObject().size(), 11u);
  EXPECT_EQ(v->asObject()[0].name, "n");  // document order
}

TEST(JsonTest, IntegerAndDoubleKeptApart) {
  EXPECT_TRUE(parseJson("1900000000")->isInt());
  EXPECT_TRUE(parseJson("1900000000.0")->isDouble());
  EXPECT_TRUE(parseJson("-0")->isInt());
  EXPECT_TRUE(parseJson("-9223372036854775808")->isInt());
  EXPECT_TRUE(parseJson("-9223372036854775809")->isDouble());
  EXPECT_TRUE(parseJson("123456789012345678901234567890")->isDouble());
}

TEST(JsonTest, RejectsNonJson) {
  for (const char* bad : {"", " ", "{", "[1,]", "{\"a\":1,}", "{'a':1}", "NaN", "Infinity",
                          "-Infinity", "01", "1.", ".5", "+1", "1e", "0x10", "tru", "nul",
                          "\"a", "\"\\x\"", "\"\t\"", "/* c */ 1", "1 // c", "{} {}", "[] x",
                          "{\"a\" 1}", "{a:1}", "1e400", "\"\\ud800\"", "\"\\udc00\"",
                          "\"\\ud800\\u0041\""}) {
    EXPECT_EQ(errorOf(bad), JsonError::kSyntax) << bad;
  }
  EXPECT_EQ(errorOf(std::string_view("{}\0", 3)), JsonError::kSyntax);
  EXPECT_EQ(errorOf(std::string_view("\"a\0b\"", 5)), JsonError::kSyntax);
  EXPECT_EQ(errorOf(" {\"a\" : [ 1 , 2 ] } \n"), JsonError::kNone);
}

TEST(JsonTest, RejectsNumbersThatOverflowADouble) {
  // The exponent alone, and a long mantissa whose exponent looks small enough.
  for (const char* bad : {"1e400", "[1,1234567890123456790123451e300,-0]",
                          "-99999999999999999999999e300", "{\"a\":123456789012345678901e299}"}) {
    JsonError why = JsonError::kNone;
    auto r = parseJson(bad, {}, &why);
    EXPECT_FALSE(r.isOk()) << bad;
    EXPECT_EQ(why, JsonError::kSyntax) << bad;
  }
  JsonError why = JsonError::kNone;
  auto r = parseJson("[1234567890123456790123451e300]", {}, &why);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("number out of range"), std::string::npos)
      << r.status().message();
  // The largest finite doubles still parse.
  auto big = parseJson("[1.7976931348623157e308,-1.7976931348623157e308,4.9e-324]");
  ASSERT_TRUE(big.isOk()) << big.status().toString();
}

TEST(JsonTest, RejectsInvalidUtf8) {
  for (const char* bad : {"\"\xff\"", "\"\xc3\"", "\"\xc0\xaf\"", "\"\xe0\x80\xaf\"",
                          "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "{\"\xfe\":1}"}) {
    EXPECT_EQ(errorOf(bad), JsonError::kSyntax) << bad;
  }
  EXPECT_EQ(errorOf("\"\xf0\x9f\x98\x80 \\ud83d\\ude00\""), JsonError::kNone);
}

TEST(JsonTest, RejectsDuplicateNamesAtAnyDepth) {
  EXPECT_EQ(errorOf(R"({"a":1,"a":1})"), JsonError::kDuplicateMember);
  EXPECT_EQ(errorOf(R"({"a":1,"b":{"c":1,"c":2}})"), JsonError::kDuplicateMember);
  EXPECT_EQ(errorOf(R"([[{"x":[{"y":1,"y":1}]}]])"), JsonError::kDuplicateMember);
  EXPECT_EQ(errorOf(R"({"sub":1,"s\u0075b":2})"), JsonError::kDuplicateMember);
  EXPECT_EQ(errorOf(R"({"a":{"a":{"a":1}},"b":[{"a":1},{"a":1}]})"), JsonError::kNone);
  // Many members take the sorting path.
  std::string many = "{";
  for (int i = 0; i < 100; ++i) many += "\"k" + std::to_string(i) + "\":1,";
  EXPECT_EQ(errorOf(many + "\"k99\":2}"), JsonError::kDuplicateMember);
  EXPECT_EQ(errorOf(many + "\"k100\":2}"), JsonError::kNone);
}

TEST(JsonTest, DepthLimit) {
  auto nested = [](int depth) {
    return std::string(depth, '[') + std::string(depth, ']');
  };
  EXPECT_EQ(errorOf(nested(32)), JsonError::kNone);
  EXPECT_EQ(errorOf(nested(33)), JsonError::kTooDeep);
  EXPECT_EQ(errorOf(nested(100000)), JsonError::kTooDeep);
  std::string objects;
  for (int i = 0; i < 33; ++i) objects += "{\"a\":";
  objects += "1" + std::string(33, '}');
  EXPECT_EQ(errorOf(objects), JsonError::kTooDeep);
  JsonLimits shallow;
  shallow.max_depth = 2;
  EXPECT_EQ(errorOf("[[1]]", shallow), JsonError::kNone);
  EXPECT_EQ(errorOf("[[[1]]]", shallow), JsonError::kTooDeep);
}

TEST(JsonTest, SizeLimit) {
  JsonLimits limits;
  limits.max_bytes = 8;
  EXPECT_EQ(errorOf("[1,2,3]", limits), JsonError::kNone);
  EXPECT_EQ(errorOf("[1,2,3,4]", limits), JsonError::kTooLarge);
  StatusOr<JsonValue> v = parseJson("[1,2,3,4]", limits);
  EXPECT_NE(v.status().message().find("limit"), std::string::npos);
}

TEST(JsonPointerTest, Rfc6901Examples) {
  StatusOr<JsonValue> doc = parseJson(R"({"foo":["bar","baz"],"":0,"a/b":1,"c%d":2,"e^f":3,)"
                                      R"("g|h":4,"i\\j":5,"k\"l":6," ":7,"m~n":8})");
  ASSERT_TRUE(doc.isOk());
  EXPECT_EQ(doc->at(""), &doc.value());
  EXPECT_TRUE(doc->at("/foo")->isArray());
  EXPECT_EQ(doc->at("/foo/0")->asString(), "bar");
  EXPECT_EQ(doc->at("/foo/1")->asString(), "baz");
  EXPECT_EQ(doc->at("/")->asInt(), 0);
  EXPECT_EQ(doc->at("/a~1b")->asInt(), 1);
  EXPECT_EQ(doc->at("/c%d")->asInt(), 2);
  EXPECT_EQ(doc->at("/e^f")->asInt(), 3);
  EXPECT_EQ(doc->at("/g|h")->asInt(), 4);
  EXPECT_EQ(doc->at("/i\\j")->asInt(), 5);
  EXPECT_EQ(doc->at("/k\"l")->asInt(), 6);
  EXPECT_EQ(doc->at("/ ")->asInt(), 7);
  EXPECT_EQ(doc->at("/m~0n")->asInt(), 8);
}

TEST(JsonPointerTest, MalformedOrMissing) {
  StatusOr<JsonValue> doc = parseJson(R"({"a":{"b":[10,20,{"~1":true}]},"a/b":1,"~":2})");
  ASSERT_TRUE(doc.isOk());
  EXPECT_EQ(doc->at("/a/b/1")->asInt(), 20);
  EXPECT_TRUE(doc->at("/a/b/2/~01")->asBool());  // "~01" is "~1", not "/"
  EXPECT_EQ(doc->at("/~0")->asInt(), 2);
  EXPECT_EQ(doc->at("a"), nullptr);          // no leading '/'
  EXPECT_EQ(doc->at("/a/b/01"), nullptr);    // leading zero
  EXPECT_EQ(doc->at("/a/b/-"), nullptr);     // past the end
  EXPECT_EQ(doc->at("/a/b/3"), nullptr);
  EXPECT_EQ(doc->at("/a/b/+1"), nullptr);
  EXPECT_EQ(doc->at("/a/b/1/x"), nullptr);   // into a number
  EXPECT_EQ(doc->at("/~2"), nullptr);        // bad escape
  EXPECT_EQ(doc->at("/~"), nullptr);
  EXPECT_EQ(doc->at("/a/c"), nullptr);
  EXPECT_EQ(doc->at("/a/"), nullptr);        // member "" of a
  EXPECT_EQ(doc->at("/a~1b")->asInt(), 1);
}

}  // namespace
}  // namespace stepgate::identity

namespace stepgate {
namespace {

// An empty view may have a null data pointer (a default-constructed string_view): it is a
// syntax error, and neither memchr nor the parser may see the null pointer (UBSan checks).
TEST(JsonEmptyInputTest, NullAndEmptyViewsAreSyntaxErrors) {
  JsonError e = JsonError::kNone;
  EXPECT_FALSE(parseJson(std::string_view(), {}, &e).isOk());
  EXPECT_EQ(e, JsonError::kSyntax);
  EXPECT_FALSE(parseJson(std::string_view("", 0), {}, &e).isOk());
  EXPECT_EQ(e, JsonError::kSyntax);
}

}  // namespace
}  // namespace stepgate
