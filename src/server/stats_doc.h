// The reference of every statistic and setting, rendered as Markdown from the tables that declare
// them (server/stats.h, storage/cache_stats.h, server/settings.h). docs/stats.md is this text;
// stats_doc_test fails when the two differ, and `build/mnemo-stats-doc > docs/stats.md`
// regenerates it.
//
// Thread safety: a pure function of constant tables.
#pragma once

#include <string>

namespace mnemo::server {

std::string RenderStatsDoc();

}  // namespace mnemo::server
