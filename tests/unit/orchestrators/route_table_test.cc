#include "orchestrators/route_table.h"

#include <gtest/gtest.h>

namespace stepgate::orchestrators {
namespace {

TEST(RouteTableTest, LiteralBeatsVariableAtTheSamePosition) {
  RouteTable t;
  const int by_id = t.add("GET", "/api/workflow/{workflowId}");
  const int search = t.add("GET", "/api/workflow/search");
  const int pause_one = t.add("PUT", "/api/workflow/{workflowId}/pause");
  const int pause_bulk = t.add("PUT", "/api/workflow/bulk/pause");
  EXPECT_EQ(t.match("GET", "/api/workflow/search").route, search);
  auto m = t.match("GET", "/api/workflow/abc");
  EXPECT_EQ(m.route, by_id);
  ASSERT_EQ(m.var_count, 1u);
  EXPECT_EQ(m.vars[0], "abc");
  EXPECT_EQ(t.match("PUT", "/api/workflow/bulk/pause").route, pause_bulk);
  EXPECT_EQ(t.match("PUT", "/api/workflow/x/pause").route, pause_one);
}

TEST(RouteTableTest, BacktracksWhenTheLiteralBranchDeadEnds) {
  RouteTable t;
  t.add("GET", "/a/search");
  const int r = t.add("GET", "/a/{id}/tasks");
  auto m = t.match("GET", "/a/search/tasks");
  EXPECT_EQ(m.route, r);
  EXPECT_EQ(m.vars[0], "search");
}

TEST(RouteTableTest, MethodsAndWildcardMethod) {
  RouteTable t;
  const int get = t.add("GET", "/x/{id}");
  const int any = t.add("*", "/x/{id}");
  EXPECT_EQ(t.match("GET", "/x/1").route, get);
  EXPECT_EQ(t.match("DELETE", "/x/1").route, any);
  RouteTable u;
  u.add("GET", "/y");
  EXPECT_FALSE(u.match("POST", "/y"));
}

TEST(RouteTableTest, TrailingSlashAndEmptySegments) {
  RouteTable t;
  const int q = t.add("GET", "/api/queue/");
  const int n = t.add("GET", "/api/queue/{name}");
  EXPECT_EQ(t.match("GET", "/api/queue/").route, q);
  EXPECT_EQ(t.match("GET", "/api/queue/x").route, n);
  EXPECT_FALSE(t.match("GET", "/api/queue"));
  EXPECT_FALSE(t.match("GET", "/api/queue/x/"));
  EXPECT_FALSE(t.match("GET", "/api//queue/x"));
}

TEST(RouteTableTest, RestVariableTakesTheRestNeverNothing) {
  RouteTable t;
  const int r = t.add("GET", "/files/{path...}");
  auto m = t.match("GET", "/files/a/b/c");
  EXPECT_EQ(m.route, r);
  EXPECT_EQ(m.vars[0], "a/b/c");
  EXPECT_FALSE(t.match("GET", "/files/"));
  EXPECT_FALSE(t.match("GET", "/files"));
}

TEST(RouteTableTest, RootAndNoMatch) {
  RouteTable t;
  const int root = t.add("GET", "/");
  EXPECT_EQ(t.match("GET", "/").route, root);
  EXPECT_FALSE(t.match("GET", ""));
  EXPECT_FALSE(t.match("GET", "x"));
  EXPECT_FALSE(t.match("GET", "/nothing"));
}

TEST(RouteTableTest, DuplicateRouteAborts) {
  RouteTable t;
  t.add("GET", "/a/{x}");
  EXPECT_DEATH(t.add("GET", "/a/{y}"), "");
}

TEST(QueryParamsTest, DecodesStrictly) {
  QueryParams q;
  ASSERT_TRUE(q.parse("a=1&b=x%20y&c=plus+sign&a=2&flag"));
  EXPECT_EQ(*q.get("a"), "1");
  EXPECT_EQ(q.count("a"), 2u);
  EXPECT_EQ(*q.get("b"), "x y");
  EXPECT_EQ(*q.get("c"), "plus sign");
  EXPECT_EQ(*q.get("flag"), "");
  EXPECT_EQ(q.get("zzz"), nullptr);
  EXPECT_FALSE(q.parse("a=%2"));
  EXPECT_FALSE(q.parse("a=%zz"));
  EXPECT_FALSE(q.parse("a=%00"));
  EXPECT_FALSE(q.parse("a=%ff"));     // not UTF-8
  EXPECT_FALSE(q.parse("a=%c0%af"));  // overlong
  EXPECT_TRUE(q.parse("a=%c3%a9"));
  EXPECT_EQ(*q.get("a"), "\xc3\xa9");
  std::string many;
  for (int i = 0; i < 65; ++i) many += "k=v&";
  EXPECT_FALSE(q.parse(many));
}

}  // namespace
}  // namespace stepgate::orchestrators
