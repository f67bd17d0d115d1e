// mnemo-stats-doc prints docs/stats.md: `build/mnemo-stats-doc > docs/stats.md`.
#include <cstdio>
#include <string>

#include "server/stats_doc.h"

int main() {
  const std::string doc = mnemo::server::RenderStatsDoc();
  return std::fwrite(doc.data(), 1, doc.size(), stdout) == doc.size() ? 0 : 1;
}
