#include "ketama.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mnemo::bench {
namespace {

// Where libmemcached 1.0.18 (through pylibmc 1.6.3, behaviors={"ketama_weighted": True}) put the
// keys "key:0", "key:1", ...: character i is the index of the server that held key i after the
// writes. Recorded by tools/bench/ketama_ground_truth.py against three live memcached processes.
struct Scenario {
  std::vector<const char*> servers;
  std::string placement;
};

const Scenario kScenarios[] = {
    {{"127.0.0.1:31001:1", "127.0.0.1:31002:1", "127.0.0.1:31003:1"},
     "20022000002020222220202022021102110211111102202200212122220120020202110211001102"
     "11202201021111021200111102220000020012120202200120012221200102211011222111210200"
     "11102001122212221210100010210012112121021000202220122222202100222012110020000122"
     "20220210202210022121201102112111222201202220000120000011010201121110012102010212"
     "01200222212220211022022102012201012102202211202122100101202020000100120100100110"},
    {{"127.0.0.1:31001:1", "127.0.0.1:31002:2", "127.0.0.1:31003:3"},
     "22122002202020222222222022221122120221221122212222212122222120120202212211221102"
     "11222211021111222220112112222112220012122212200120212221212102211211222111212202"
     "22122201122212221211120211212212112121021020202220222222212100222112112122002122"
     "21220212202211122121201222112211222221222222222122000222012201121112212122220212"
     "01220222212220211222222112212221212212222211202122111112202120121121122102121111"},
    {{"127.0.0.1:11211:1", "127.0.0.1:31002:1", "127.0.0.1:31003:5"},
     "20222202002122020222202222220102220221221222222022212122222222220222222211021122"
     "02222022222000222222022222220212222012102212222122212222222222022210202222222222"
     "22022201222200222222120202212220220221020120222222222222222122222112222220212022"
     "22202222202222222122222222122222220222202222022120220222212221121212222222221212"
     "02222202212202202222222202222221222222200020222222102110222222021122022122220212"},
};

KetamaRing RingOf(const std::vector<const char*>& names) {
  std::vector<ServerAddress> servers(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_TRUE(ParseServerAddress(names[i], &servers[i]).ok());
  }
  return KetamaRing(servers);
}

TEST(KetamaTest, PlacesKeysWhereLibmemcachedDoes) {
  for (const Scenario& scenario : kScenarios) {
    const KetamaRing ring = RingOf(scenario.servers);
    for (size_t i = 0; i < scenario.placement.size(); ++i) {
      const std::string key = "key:" + std::to_string(i);
      EXPECT_EQ(ring.ServerFor(key), static_cast<size_t>(scenario.placement[i] - '0'))
          << key << " with servers " << scenario.servers[0] << " ...";
    }
  }
}

// 160 points per server scaled by its share of the total weight, in groups of four, rounded down
// in single precision as libmemcached does: weights 1:2:3 give 80, 160 and 240 points.
TEST(KetamaTest, GivesPointsInProportionToWeight) {
  const KetamaRing even = RingOf({"a:1", "b:2", "c:3"});
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(even.PointsOf(i), 160u);
  const KetamaRing weighted = RingOf({"a:1:1", "b:2:2", "c:3:3"});
  EXPECT_EQ(weighted.PointsOf(0), 80u);
  EXPECT_EQ(weighted.PointsOf(1), 160u);
  EXPECT_EQ(weighted.PointsOf(2), 240u);
}

TEST(KetamaTest, OneServerOwnsEveryKey) {
  const KetamaRing ring = RingOf({"127.0.0.1:21211"});
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(ring.ServerFor(std::to_string(i)), 0u);
}

// Consistent hashing's point: adding a fourth server moves only the keys it takes over, about a
// quarter of them, and no key moves between the three old servers.
TEST(KetamaTest, AddingAServerMovesOnlyTheKeysItTakes) {
  const KetamaRing three = RingOf({"h:1", "h:2", "h:3"});
  const KetamaRing four = RingOf({"h:1", "h:2", "h:3", "h:4"});
  constexpr int kKeys = 20000;
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "key:" + std::to_string(i);
    const size_t before = three.ServerFor(key);
    const size_t after = four.ServerFor(key);
    if (before != after) {
      EXPECT_EQ(after, 3u) << key;
      ++moved;
    }
  }
  EXPECT_GT(moved, kKeys / 8);
  EXPECT_LT(moved, kKeys * 3 / 8);
}

}  // namespace
}  // namespace mnemo::bench
