#include "cluster/ketama.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mnemo::cluster {
namespace {

// Where real clients put the keys "key:0", "key:1", ...: character i is the index of the server
// that held key i after the writes. Recorded by tools/cluster/ketama_ground_truth.py against live
// memcached processes, through libmemcached 1.0.18 (pylibmc 1.6.3 with
// behaviors={"ketama_weighted": True}) and through nutcracker 0.5.0 (distribution: ketama,
// hash: md5). Where both clients were recorded on the same servers, they agreed on every key.
struct Scenario {
  const char* recorded_with;
  std::vector<const char*> servers;  // as the client's configuration lists them
  std::string placement;
};

const Scenario kScenarios[] = {
    {"pylibmc",
     {"127.0.0.1:31001:1", "127.0.0.1:31002:1", "127.0.0.1:31003:1"},
     "20022000002020222220202022021102110211111102202200212122220120020202110211001102"
     "11202201021111021200111102220000020012120202200120012221200102211011222111210200"
     "11102001122212221210100010210012112121021000202220122222202100222012110020000122"
     "20220210202210022121201102112111222201202220000120000011010201121110012102010212"
     "01200222212220211022022102012201012102202211202122100101202020000100120100100110"},
    {"pylibmc and nutcracker",
     {"127.0.0.1:31001:1", "127.0.0.1:31002:2", "127.0.0.1:31003:3"},
     "22122002202020222222222022221122120221221122212222212122222120120202212211221102"
     "11222211021111222220112112222112220012122212200120212221212102211211222111212202"
     "22122201122212221211120211212212112121021020202220222222212100222112112122002122"
     "21220212202211122121201222112211222221222222222122000222012201121112212122220212"
     "01220222212220211222222112212221212212222211202122111112202120121121122102121111"},
    {"pylibmc and nutcracker",
     {"127.0.0.1:11211:1", "127.0.0.1:31002:1", "127.0.0.1:31003:5"},
     "20222202002122020222202222220102220221221222222022212122222222220222222211021122"
     "02222022222000222222022222220212222012102212222122212222222222022210202222222222"
     "22022201222200222222120202212220220221020120222222222222222122222112222220212022"
     "22202222202222222122222222122222220222202222022120220222212221121212222222221212"
     "02222202212202202222222202222221222222200020222222102110222222021122022122220212"},
    {"nutcracker",
     {"127.0.0.1:31001:1 alpha", "127.0.0.1:31002:2 beta", "127.0.0.1:31003:1 gamma"},
     "20010200100121020122110221012001001111012020211121021121002112221102202002012021"
     "10012111221112210122202021211021111111111221111110122001211112221101020201211021"
     "20112210100120111111212212112122100220112111211021110211102221011112211201210110"
     "11111221110010100012222120111101012112022111221211100222111112110111011120121111"
     "11111100011101111210110111111111002120101212211110021120112122110110102111122011"},
};

std::vector<KetamaServer> ServersOf(const std::vector<const char*>& specs) {
  std::vector<KetamaServer> servers(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const Status status = ParseKetamaServer(specs[i], &servers[i]);
    EXPECT_TRUE(status.ok()) << specs[i] << ": " << status.message();
  }
  return servers;
}

TEST(KetamaTest, PlacesKeysWhereLibmemcachedAndNutcrackerDo) {
  for (const Scenario& scenario : kScenarios) {
    const KetamaRing ring(ServersOf(scenario.servers));
    for (size_t i = 0; i < scenario.placement.size(); ++i) {
      const std::string key = "key:" + std::to_string(i);
      ASSERT_EQ(ring.ServerFor(key), static_cast<size_t>(scenario.placement[i] - '0'))
          << key << " as recorded with " << scenario.recorded_with << " on " << scenario.servers[0]
          << " ...";
    }
  }
}

// nutcracker with auto_eject_hosts rebuilds its ring from the live servers once it has ejected
// one. Recorded with 127.0.0.1:31003 down: character i is the index of the server, in the list of
// all four, that held key i.
TEST(KetamaTest, PlacesKeysWhereNutcrackerDoesAfterEjectingAServer) {
  const std::string placement =
      "03000033333033333033333030301130130331331331303113013330033300133103333311331103"
      "01303301031111130130033331333303303010330000300300113331333333311003333331010000"
      "33103003333013331313130333313311133131031030103310131333131103333113313133003133"
      "30310313333331301133101303113130330331333330300133000311010331331113313303030313"
      "01000330133030331013033111333301033113333311303333133103303330130103033101030131";
  const std::vector<size_t> live = {0, 1, 3};
  const KetamaRing ring(ServersOf({"127.0.0.1:31001:1", "127.0.0.1:31002:1", "127.0.0.1:31004:2"}));
  for (size_t i = 0; i < placement.size(); ++i) {
    const std::string key = "key:" + std::to_string(i);
    ASSERT_EQ(live[ring.ServerFor(key)], static_cast<size_t>(placement[i] - '0')) << key;
  }
}

TEST(KetamaTest, NamesServersAsLibmemcachedAndNutcrackerDo) {
  EXPECT_EQ(KetamaName({"10.0.0.1", 11211, 1}), "10.0.0.1");
  EXPECT_EQ(KetamaName({"10.0.0.1", 11212, 1}), "10.0.0.1:11212");
  EXPECT_EQ(KetamaName({"cache.example", 22122, 3}), "cache.example:22122");
  EXPECT_EQ(KetamaName({"::1", 22122, 1}), "::1:22122");
}

TEST(KetamaTest, ParsesNutcrackerAndLibmemcachedServerLines) {
  const std::vector<KetamaServer> servers = ServersOf(
      {"127.0.0.1:22122:2 cache-a", "127.0.0.1:22123:1", "127.0.0.1:11211:4", "localhost"});
  EXPECT_EQ(servers[0], (KetamaServer{"cache-a", 2}));
  EXPECT_EQ(servers[1], (KetamaServer{"127.0.0.1:22123", 1}));
  EXPECT_EQ(servers[2], (KetamaServer{"127.0.0.1", 4}));
  EXPECT_EQ(servers[3], (KetamaServer{"localhost", 1}));
  KetamaServer server;
  for (const char* bad : {"", "127.0.0.1:22122:1 ", "127.0.0.1:0:1 a", "127.0.0.1:1:0 a", " a"}) {
    EXPECT_FALSE(ParseKetamaServer(bad, &server).ok()) << bad;
  }
}

// 160 points per server scaled by its share of the total weight, in groups of four, rounded down
// in single precision as libmemcached does: weights 1:2:3 give 80, 160 and 240 points.
TEST(KetamaTest, GivesPointsInProportionToWeight) {
  const KetamaRing even(ServersOf({"a:1", "b:2", "c:3"}));
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(even.PointsOf(i), 160u);
  const KetamaRing weighted(ServersOf({"a:1:1", "b:2:2", "c:3:3"}));
  EXPECT_EQ(weighted.PointsOf(0), 80u);
  EXPECT_EQ(weighted.PointsOf(1), 160u);
  EXPECT_EQ(weighted.PointsOf(2), 240u);
}

TEST(KetamaTest, BuildsTheSameRingFromAddressesAsFromNames) {
  std::vector<ServerAddress> addresses(2);
  ASSERT_TRUE(ParseServerAddress("127.0.0.1:31001:1", &addresses.front()).ok());
  ASSERT_TRUE(ParseServerAddress("127.0.0.1:11211:3", &addresses[1]).ok());
  const KetamaRing from_addresses(addresses);
  const KetamaRing from_names(ServersOf({"127.0.0.1:31001:1", "127.0.0.1:11211:3"}));
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "k" + std::to_string(i);
    EXPECT_EQ(from_addresses.ServerFor(key), from_names.ServerFor(key)) << key;
  }
}

TEST(KetamaTest, OneServerOwnsEveryKey) {
  const KetamaRing ring(ServersOf({"127.0.0.1:21211"}));
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(ring.ServerFor(std::to_string(i)), 0u);
}

// Consistent hashing's point: adding a fourth server moves only the keys it takes over, about a
// quarter of them, and no key moves between the three old servers.
TEST(KetamaTest, AddingAServerMovesOnlyTheKeysItTakes) {
  const KetamaRing three(ServersOf({"h:1", "h:2", "h:3"}));
  const KetamaRing four(ServersOf({"h:1", "h:2", "h:3", "h:4"}));
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
}  // namespace mnemo::cluster
