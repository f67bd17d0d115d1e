// mnemo-bench: a load generator for memcached-protocol servers. See HelpText() in options.cc.
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "compare.h"
#include "load_run.h"
#include "options.h"
#include "report.h"

namespace mnemo::bench {
namespace {

int Fail(const Status& status) {
  std::fprintf(stderr, "mnemo-bench: %s\n", status.message().c_str());
  return 1;
}

int RunMode(const Options& options) {
  RunResult preload;
  if (options.load.preload) {
    Status status = RunLoad(options.load, Phase::kPreload, stderr, &preload);
    if (!status.ok()) return Fail(status);
  }
  RunResult run;
  Status status = RunLoad(options.load, Phase::kLoad, stderr, &run);
  if (!status.ok()) return Fail(status);
  const RunResult* preloaded = options.load.preload ? &preload : nullptr;
  if (options.json) {
    std::fputs(RunJson(options.load, run, preloaded).c_str(), stdout);
  } else {
    PrintRunTable(stdout, options.load, run, preloaded);
  }
  return 0;
}

int CompareMode(const Options& options) {
  std::vector<ServerRounds> servers;
  Status status = RunCompare(options, stderr, &servers);
  if (!status.ok()) return Fail(status);
  if (options.json) {
    std::fputs(CompareJson(options, servers).c_str(), stdout);
  } else {
    PrintCompareTable(stdout, options, servers);
  }
  return 0;
}

}  // namespace
}  // namespace mnemo::bench

int main(int argc, char** argv) {
  using mnemo::bench::Options;
  Options options;
  const mnemo::Status status = mnemo::bench::ParseOptions(argc, argv, &options);
  if (!status.ok()) {
    std::fprintf(stderr, "mnemo-bench: %s\n", status.message().c_str());
    return 2;
  }
  // A server that closes a connection must not kill the benchmark: send() reports EPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  switch (options.mode) {
    case Options::Mode::kHelp:
      std::fwrite(mnemo::bench::HelpText().data(), 1, mnemo::bench::HelpText().size(), stdout);
      return 0;
    case Options::Mode::kRun:
      return mnemo::bench::RunMode(options);
    case Options::Mode::kCompare:
      return mnemo::bench::CompareMode(options);
  }
  return 2;
}
