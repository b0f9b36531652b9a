#include "pool/lease_table.h"

#include <gtest/gtest.h>

#include "pool/errc.h"

namespace brokerside::pool {
namespace {

const time_point t0 = time_point{} + std::chrono::hours(1);

lease make(const std::string& id, std::uint64_t connection, millis ttl, time_point now = t0) {
  return {id, "ipv4:127.0.0.1:5000", connection, ttl, now, now + ttl};
}

TEST(lease_table, find_renew_release) {
  lease_table table;
  table.add(make("a", 7, millis(1000)));
  const lease* found = nullptr;
  ASSERT_FALSE(table.find("a", t0 + millis(999), found));
  EXPECT_EQ(found->connection_id, 7u);
  EXPECT_EQ(table.renew("a", millis(2000), t0 + millis(900)), std::error_code{});
  EXPECT_FALSE(table.find("a", t0 + millis(2899), found));
  lease released;
  EXPECT_FALSE(table.release("a", t0 + millis(1000), released));
  EXPECT_EQ(released.connection_id, 7u);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.find("a", t0, found), make_error_code(errc::unknown_lease));
}

TEST(lease_table, unknown_leases) {
  lease_table table;
  const lease* found = nullptr;
  lease out;
  EXPECT_EQ(table.find("x", t0, found), make_error_code(errc::unknown_lease));
  EXPECT_EQ(table.renew("x", millis(1), t0), make_error_code(errc::unknown_lease));
  EXPECT_EQ(table.release("x", t0, out), make_error_code(errc::unknown_lease));
}

TEST(lease_table, a_lease_never_outlives_its_ttl_even_before_the_sweep) {
  lease_table table;
  table.add(make("a", 1, millis(1000)));
  const lease* found = nullptr;
  lease out;
  EXPECT_EQ(table.find("a", t0 + millis(1000), found), make_error_code(errc::lease_expired));
  EXPECT_EQ(table.renew("a", millis(1000), t0 + millis(1000)),
            make_error_code(errc::lease_expired));
  EXPECT_EQ(table.release("a", t0 + millis(1000), out), make_error_code(errc::lease_expired));
}

TEST(lease_table, expire_returns_expired_leases_and_remembers_their_ids) {
  lease_table table;
  table.add(make("a", 1, millis(1000)));
  table.add(make("b", 2, millis(3000)));
  EXPECT_EQ(table.next_expiry(), t0 + millis(1000));
  EXPECT_TRUE(table.expire(t0 + millis(999)).empty());
  const auto gone = table.expire(t0 + millis(1000));
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].id, "a");
  EXPECT_EQ(gone[0].connection_id, 1u);
  EXPECT_EQ(table.next_expiry(), t0 + millis(3000));
  const lease* found = nullptr;
  EXPECT_EQ(table.find("a", t0 + millis(1001), found), make_error_code(errc::lease_expired));
  EXPECT_EQ(table.expire(t0 + millis(5000)).size(), 1u);
  EXPECT_FALSE(table.next_expiry().has_value());
}

TEST(lease_table, remembered_expired_ids_are_bounded) {
  lease_table table(2);
  for (const auto* id : {"a", "b", "c"}) table.add(make(id, 1, millis(1)));
  EXPECT_EQ(table.expire(t0 + millis(1)).size(), 3u);
  const lease* found = nullptr;
  EXPECT_EQ(table.find("a", t0, found), make_error_code(errc::unknown_lease));  // forgotten
  EXPECT_EQ(table.find("b", t0, found), make_error_code(errc::lease_expired));
  EXPECT_EQ(table.find("c", t0, found), make_error_code(errc::lease_expired));
}

}  // namespace
}  // namespace brokerside::pool
