#include "options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mnemo::bench {
namespace {

Status Parse(std::vector<std::string> args, Options* out) {
  args.insert(args.begin(), "mnemo-bench");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return ParseOptions(static_cast<int>(args.size()), argv.data(), out);
}

TEST(OptionsTest, DefaultsTargetLocalMemcachedForTenSeconds) {
  Options o;
  ASSERT_TRUE(Parse({}, &o).ok());
  EXPECT_EQ(o.mode, Options::Mode::kRun);
  ASSERT_EQ(o.load.servers.size(), 1u);
  EXPECT_EQ(o.load.servers[0], (cluster::ServerAddress{"127.0.0.1", 11211, 1}));
  EXPECT_EQ(o.load.duration_s, 10);
  EXPECT_EQ(o.load.requests, 0u);
  EXPECT_EQ(o.load.set_ratio, 1u);
  EXPECT_EQ(o.load.get_ratio, 10u);
}

TEST(OptionsTest, ParsesEveryLoadOption) {
  Options o;
  const Status s = Parse({"--server",
                          "127.0.0.1:21211",
                          "--server=h2:21212:3",
                          "--threads",
                          "3",
                          "--connections",
                          "7",
                          "--pipeline",
                          "16",
                          "--requests",
                          "5000",
                          "--ratio",
                          "2:5",
                          "--rate",
                          "50000",
                          "--key-space",
                          "1000",
                          "--key-pattern",
                          "zipf",
                          "--zipf-exponent",
                          "1.2",
                          "--key-prefix",
                          "k-",
                          "--value-size",
                          "10-100",
                          "--protocol",
                          "meta",
                          "--preload",
                          "--json",
                          "--seed",
                          "99"},
                         &o);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(o.load.servers.size(), 2u);
  EXPECT_EQ(o.load.servers[1], (cluster::ServerAddress{"h2", 21212, 3}));
  EXPECT_EQ(o.load.threads, 3u);
  EXPECT_EQ(o.load.connections, 7u);
  EXPECT_EQ(o.load.pipeline, 16u);
  EXPECT_EQ(o.load.requests, 5000u);
  EXPECT_EQ(o.load.duration_s, 0);
  EXPECT_EQ(o.load.set_ratio, 2u);
  EXPECT_EQ(o.load.get_ratio, 5u);
  EXPECT_EQ(o.load.rate, 50000);
  EXPECT_EQ(o.load.key_space, 1000u);
  EXPECT_EQ(o.load.key_pattern, KeyPattern::kZipf);
  EXPECT_EQ(o.load.zipf_exponent, 1.2);
  EXPECT_EQ(o.load.key_prefix, "k-");
  EXPECT_EQ(o.load.value_min, 10u);
  EXPECT_EQ(o.load.value_max, 100u);
  EXPECT_EQ(o.load.protocol, Protocol::kMeta);
  EXPECT_TRUE(o.load.preload);
  EXPECT_TRUE(o.json);
  EXPECT_EQ(o.load.seed, 99u);
}

TEST(OptionsTest, ParsesCompareMode) {
  Options o;
  const Status s = Parse({"compare", "--rounds", "3", "--server-cmd", "a=/bin/a -p {port}",
                          "--server-cmd", "b=/bin/b --port={port} -t 2", "--duration", "2"},
                         &o);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(o.mode, Options::Mode::kCompare);
  EXPECT_EQ(o.rounds, 3u);
  ASSERT_EQ(o.server_commands.size(), 2u);
  EXPECT_EQ(o.server_commands[1].name, "b");
  EXPECT_EQ(o.server_commands[1].command, "/bin/b --port={port} -t 2");
  EXPECT_TRUE(o.load.servers.empty());
  EXPECT_EQ(o.load.duration_s, 2);
}

TEST(OptionsTest, HelpStopsParsing) {
  Options o;
  ASSERT_TRUE(Parse({"--threads", "2", "--help", "--bogus"}, &o).ok());
  EXPECT_EQ(o.mode, Options::Mode::kHelp);
  EXPECT_NE(HelpText().find("--key-pattern"), std::string_view::npos);
}

TEST(OptionsTest, RejectsBadArguments) {
  const std::vector<std::vector<std::string>> bad = {
      {"--bogus"},
      {"--threads"},
      {"--threads", "0"},
      {"--connections", "x"},
      {"--pipeline", "-1"},
      {"--duration", "0"},
      {"--duration", "5", "--requests", "10"},
      {"--ratio", "1"},
      {"--ratio", "0:0"},
      {"--ratio", "a:b"},
      {"--rate", "0"},
      {"--key-space", "0"},
      {"--key-pattern", "hot"},
      {"--zipf-exponent", "0"},
      {"--value-size", "0"},
      {"--value-size", "100-10"},
      {"--value-size", "5-"},
      {"--protocol", "binary"},
      {"--key-prefix", "has space"},
      {"--key-prefix", std::string(246, 'k'), "--key-space", "100000"},
      {"--server", "host:99999"},
      {"--server-cmd", "a=x {port}"},
      {"stray"},
      {"compare", "--server-cmd", "a=x {port}"},
      {"compare", "--server-cmd", "a=x", "--server-cmd", "b=y {port}"},
      {"compare", "--server-cmd", "a=x {port}", "--server-cmd", "b=y {port}", "--server", "h"},
      {"compare", "--server-cmd", "=x {port}", "--server-cmd", "b=y {port}"},
      {"compare", "--rounds", "0", "--server-cmd", "a=x {port}", "--server-cmd", "b=y {port}"},
  };
  for (const auto& args : bad) {
    Options o;
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_FALSE(Parse(args, &o).ok()) << joined;
  }
}

TEST(OptionsTest, AcceptsTheLongestValidKey) {
  Options o;
  // 245 prefix bytes plus ids up to 99999 (5 digits) is 250 bytes: exactly memcached's limit.
  EXPECT_TRUE(Parse({"--key-prefix", std::string(245, 'k'), "--key-space", "100000"}, &o).ok());
}

}  // namespace
}  // namespace mnemo::bench
