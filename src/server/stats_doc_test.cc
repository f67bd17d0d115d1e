#include "server/stats_doc.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace mnemo::server {
namespace {

TEST(StatsDocTest, DocsStatsMdIsRenderedFromTheTables) {
  const std::string path = std::string(MNEMO_SOURCE_DIR) + "/docs/stats.md";
  std::ifstream file(path);
  ASSERT_TRUE(file) << "cannot read " << path;
  std::stringstream committed;
  committed << file.rdbuf();
  EXPECT_TRUE(committed.str() == RenderStatsDoc())
      << "docs/stats.md differs from what the tables declare; regenerate it with\n"
         "  cmake --build build --target mnemo-stats-doc && build/mnemo-stats-doc > docs/stats.md";
}

TEST(StatsDocTest, EveryStatisticAndOptionIsListed) {
  const std::string doc = RenderStatsDoc();
  for (const char* name :
       {"| `cmd_get` | counter |", "| `curr_items` | gauge |", "| `age` | gauge |",
        "| `hashpower_init` | `hashpower=` |", "| `eviction_policy` | `eviction=` | `merge` |",
        "|  | `no_modern` |  |"}) {
    EXPECT_NE(doc.find(name), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace mnemo::server
