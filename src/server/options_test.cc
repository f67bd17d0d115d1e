#include "server/options.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace mnemo::server {
namespace {

// Parses a command line given as words, without the program name.
Status Parse(std::initializer_list<const char*> words, Options* options,
             CommandLineAction* action = nullptr) {
  std::vector<std::string> storage = {"mnemod"};
  storage.insert(storage.end(), words.begin(), words.end());
  std::vector<char*> argv;
  for (std::string& word : storage) argv.push_back(word.data());
  argv.push_back(nullptr);
  CommandLineAction ignored;
  return ParseCommandLine(static_cast<int>(storage.size()), argv.data(), options,
                          action != nullptr ? action : &ignored);
}

std::string ErrorOf(std::initializer_list<const char*> words) {
  Options options;
  const Status status = Parse(words, &options);
  EXPECT_FALSE(status.ok());
  return status.message();
}

TEST(OptionsTest, DefaultsAreMemcachedsDefaults) {
  Options options;
  CommandLineAction action;
  ASSERT_TRUE(Parse({}, &options, &action).ok());
  EXPECT_EQ(action, CommandLineAction::kRun);
  EXPECT_EQ(options.port, 11211);
  EXPECT_TRUE(options.listen.empty());
  EXPECT_EQ(options.udp_port, 0);
  EXPECT_EQ(options.memory_limit, size_t{64} << 20);
  EXPECT_EQ(options.max_connections, 1024);
  EXPECT_EQ(options.threads, 4);
  EXPECT_EQ(options.item_size_max, size_t{1} << 20);
  EXPECT_DOUBLE_EQ(options.growth_factor, 1.25);
  EXPECT_EQ(options.chunk_size, 48);
  EXPECT_EQ(options.reqs_per_event, 20);
  EXPECT_TRUE(options.evict);
  EXPECT_TRUE(options.use_cas);
  EXPECT_FALSE(options.enable_shutdown);
  EXPECT_EQ(options.idle_timeout, 0);
}

TEST(OptionsTest, ReadsAMemcachedCommandLine) {
  Options options;
  ASSERT_TRUE(Parse({"-p", "12345", "-l",       "127.0.0.1", "-m", "128", "-c",    "10",   "-t",
                     "2",  "-I",    "2m",       "-M",        "-C", "-vv", "-u",    "root", "-A",
                     "-d", "-P",    "/tmp/pid", "-U",        "0",  "-B",  "ascii", "-f",   "1.5",
                     "-n", "64",    "-R",       "5",         "-b", "64"},
                    &options)
                  .ok());
  EXPECT_EQ(options.port, 12345);
  EXPECT_EQ(options.listen, std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(options.memory_limit, size_t{128} << 20);
  EXPECT_EQ(options.max_connections, 10);
  EXPECT_EQ(options.threads, 2);
  EXPECT_EQ(options.item_size_max, size_t{2} << 20);
  EXPECT_FALSE(options.evict);
  EXPECT_FALSE(options.use_cas);
  EXPECT_EQ(options.verbosity, 2);
  EXPECT_EQ(options.user, "root");
  EXPECT_TRUE(options.enable_shutdown);
  EXPECT_TRUE(options.daemonize);
  EXPECT_EQ(options.pid_file, "/tmp/pid");
  EXPECT_DOUBLE_EQ(options.growth_factor, 1.5);
  EXPECT_EQ(options.chunk_size, 64);
  EXPECT_EQ(options.reqs_per_event, 5);
  EXPECT_EQ(options.backlog, 64);
}

TEST(OptionsTest, ReadsLongOptions) {
  Options options;
  ASSERT_TRUE(Parse({"--port=2000", "--listen", "::1", "--memory-limit=256", "--threads=8",
                     "--max-item-size=4m", "--conn-limit=99", "--disable-evictions",
                     "--disable-cas", "--enable-shutdown", "--extended=idle_timeout=7"},
                    &options)
                  .ok());
  EXPECT_EQ(options.port, 2000);
  EXPECT_EQ(options.listen, std::vector<std::string>{"::1"});
  EXPECT_EQ(options.memory_limit, size_t{256} << 20);
  EXPECT_EQ(options.threads, 8);
  EXPECT_EQ(options.item_size_max, size_t{4} << 20);
  EXPECT_EQ(options.max_connections, 99);
  EXPECT_FALSE(options.evict);
  EXPECT_FALSE(options.use_cas);
  EXPECT_TRUE(options.enable_shutdown);
  EXPECT_EQ(options.idle_timeout, 7);
}

TEST(OptionsTest, ListenTakesListsAndRepeats) {
  Options options;
  ASSERT_TRUE(Parse({"-l", "127.0.0.1,::1", "-l", "10.0.0.1:5000"}, &options).ok());
  EXPECT_EQ(options.listen, (std::vector<std::string>{"127.0.0.1", "::1", "10.0.0.1:5000"}));
}

TEST(OptionsTest, UdpPortIsAlsoTheTcpPortUnlessDashPSaysOtherwise) {
  Options options;
  ASSERT_TRUE(Parse({"-U", "12000"}, &options).ok());
  EXPECT_EQ(options.udp_port, 12000);
  EXPECT_EQ(options.port, 12000);
  options = Options();
  ASSERT_TRUE(Parse({"-U", "12000", "-p", "13000"}, &options).ok());
  EXPECT_EQ(options.udp_port, 12000);
  EXPECT_EQ(options.port, 13000);
  EXPECT_EQ(ErrorOf({"-U", "70000"}), "invalid value for -U: \"70000\"");
}

TEST(OptionsTest, UnixSocketTakesAPathAndAnOctalMask) {
  Options options;
  EXPECT_TRUE(options.socket_path.empty());
  EXPECT_EQ(options.unix_mask, 0700);
  ASSERT_TRUE(Parse({"-s", "/tmp/m.sock", "-a", "766"}, &options).ok());
  EXPECT_EQ(options.socket_path, "/tmp/m.sock");
  EXPECT_EQ(options.unix_mask, 0766);
  ASSERT_TRUE(Parse({"--unix-socket=/tmp/n.sock", "--unix-mask=0640"}, &options).ok());
  EXPECT_EQ(options.socket_path, "/tmp/n.sock");
  EXPECT_EQ(options.unix_mask, 0640);
  EXPECT_EQ(ErrorOf({"-a", "789"}), "invalid value for -a: \"789\"");
  EXPECT_EQ(ErrorOf({"-a", "-7"}), "invalid value for -a: \"-7\"");
}

TEST(OptionsTest, TakesEveryFlagOfMemcacheds) {
  Options options;
  ASSERT_TRUE(Parse({"-k", "-r", "-F", "-X", "-W", "-D", "#", "-N", "2", "-L", "-e", "/y", "-o",
                     "ext_path=/z:1g,ssl_key=/k,slab_chunk_max=64"},
                    &options)
                  .ok());
  EXPECT_TRUE(options.lock_memory);
  EXPECT_TRUE(options.core_dumps);
  EXPECT_FALSE(options.flush_enabled);
  EXPECT_FALSE(options.dump_enabled);
  EXPECT_FALSE(options.watch_enabled);
  EXPECT_EQ(options.prefix_delimiter, '#');
  EXPECT_TRUE(options.detail_enabled);
  EXPECT_EQ(options.napi_ids, 2);
  EXPECT_EQ(options.tuning.slab_chunk_max, 64 << 10);
  CommandLineAction action;
  ASSERT_TRUE(Parse({"-i"}, &options, &action).ok());
  EXPECT_EQ(action, CommandLineAction::kPrintLicense);
}

// -S binds connections to binary, -Y to ascii, and -B must agree; neither serves UDP.
TEST(OptionsTest, AuthenticationBindsTheProtocolAsMemcachedDoes) {
  Options options;
  ASSERT_TRUE(Parse({"-S"}, &options).ok());
  EXPECT_TRUE(options.sasl);
  EXPECT_EQ(options.binding_protocol, protocol::WireProtocol::kBinary);
  ASSERT_TRUE(Parse({"-S", "-B", "binary"}, &options).ok());
  Options ascii;
  ASSERT_TRUE(Parse({"-Y", "/etc/auth"}, &ascii).ok());
  EXPECT_EQ(ascii.auth_file, "/etc/auth");
  EXPECT_EQ(ascii.binding_protocol, protocol::WireProtocol::kAscii);
  // Both: -Y's binding wins, as in memcached.
  Options both;
  ASSERT_TRUE(Parse({"-S", "-Y", "/a"}, &both).ok());
  EXPECT_EQ(both.binding_protocol, protocol::WireProtocol::kAscii);
  EXPECT_EQ(ErrorOf({"-S", "-B", "auto"}),
            "ERROR: You cannot allow the ASCII protocol while using SASL.");
  EXPECT_EQ(ErrorOf({"-S", "-B", "ascii"}),
            "ERROR: You cannot allow the ASCII protocol while using SASL.");
  EXPECT_EQ(ErrorOf({"-S", "-U", "11211"}),
            "ERROR: Cannot enable UDP while using binary SASL authentication.");
  EXPECT_EQ(ErrorOf({"-Y", "/a", "-B", "auto"}),
            "ERROR: You cannot allow the BINARY protocol while using ascii authentication "
            "tokens.");
  EXPECT_EQ(ErrorOf({"-Y", "/a", "-U", "5"}),
            "Cannot use UDP with ascii authentication enabled (-U 0 to disable)");
}

// -Z and memcached's -o ssl_* options, with memcached's words for bad values.
TEST(OptionsTest, TlsOptionsAreMemcacheds) {
  Options options;
  ASSERT_TRUE(Parse({"-Z", "-o",
                     "ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_verify_mode=2,ssl_keyformat=2,"
                     "ssl_ciphers=HIGH,ssl_ca_cert=/ca.pem,ssl_wbuf_size=32,ssl_session_cache,"
                     "ssl_kernel_tls,ssl_min_version=3"},
                    &options)
                  .ok());
  EXPECT_TRUE(options.ssl_enabled);
  EXPECT_EQ(options.tls.chain_cert, "/c.pem");
  EXPECT_EQ(options.tls.key, "/k.pem");
  EXPECT_EQ(options.tls.verify_mode, 3);  // SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
  EXPECT_EQ(options.tls.keyformat, 2);
  EXPECT_EQ(options.tls.ciphers, "HIGH");
  EXPECT_EQ(options.tls.ca_cert, "/ca.pem");
  EXPECT_EQ(options.tls.wbuf_size, 32u << 10);
  EXPECT_TRUE(options.tls.session_cache);
  EXPECT_TRUE(options.tls.kernel_tls);
  EXPECT_EQ(options.tls.min_version, 0x0304);  // TLS1_3_VERSION
  EXPECT_TRUE(Parse({"--enable-ssl"}, &options).ok());
  EXPECT_EQ(ErrorOf({"-o", "ssl_chain_cert"}), "Missing ssl_chain_cert argument");
  EXPECT_EQ(ErrorOf({"-o", "ssl_verify_mode=x"}), "could not parse argument to ssl_verify_mode");
  EXPECT_EQ(ErrorOf({"-o", "ssl_verify_mode=4"}),
            "Invalid ssl_verify_mode. Use help to see valid options.");
  EXPECT_EQ(ErrorOf({"-o", "ssl_min_version=5"}),
            "Invalid ssl_min_version. Use help to see valid options.");
  EXPECT_EQ(ErrorOf({"-o", "ssl_wbuf_size=abc"}), "could not parse argument to ssl_wbuf_size");
  EXPECT_EQ(ErrorOf({"-o", "ssl_keyformat=pem"}), "could not parse argument to ssl_keyformat");
}

TEST(OptionsTest, SlabChunkMaxFollowsMemcachedsDefaults) {
  Options options;
  ASSERT_TRUE(Parse({"-I", "4m"}, &options).ok());
  EXPECT_EQ(options.tuning.slab_chunk_max, 512 << 10);
  options = Options();
  ASSERT_TRUE(Parse({"-o", "no_modern"}, &options).ok());
  EXPECT_EQ(options.tuning.slab_chunk_max, 1 << 20);
  options = Options();
  ASSERT_TRUE(Parse({"-o", "slab_chunk_max=1024", "-I", "4m"}, &options).ok());
  EXPECT_EQ(options.tuning.slab_chunk_max, 1 << 20);
  EXPECT_EQ(ErrorOf({"-o", "slab_chunk_max=2048"}),
            "slab_chunk_max must be specified in kilobytes.");
  EXPECT_EQ(ErrorOf({"-N", "8"}),
            "Number of napi_ids(8) cannot be greater than number of threads(4)");
}

TEST(OptionsTest, ItemSizeTakesSuffixesWithinMemcachedsLimits) {
  Options options;
  ASSERT_TRUE(Parse({"-I", "1024"}, &options).ok());
  EXPECT_EQ(options.item_size_max, 1024u);
  ASSERT_TRUE(Parse({"-I", "512k"}, &options).ok());
  EXPECT_EQ(options.item_size_max, size_t{512} << 10);
  ASSERT_TRUE(Parse({"-m", "4096", "-I", "1g"}, &options).ok());
  EXPECT_EQ(options.item_size_max, size_t{1} << 30);

  EXPECT_EQ(ErrorOf({"-I", "1023"}), "Item max size cannot be less than 1024 bytes.");
  EXPECT_EQ(ErrorOf({"-I", "40m"}), "Cannot set item size limit higher than 1/2 of memory max.");
  EXPECT_EQ(ErrorOf({"-m", "8192", "-I", "2g"}),
            "Cannot set item size limit higher than a gigabyte.");
  EXPECT_EQ(ErrorOf({"-I", "2g"}), "Cannot set item size limit higher than 1/2 of memory max.");
  EXPECT_EQ(ErrorOf({"-I", "1x"}), "invalid value for -I: \"1x\"");
}

TEST(OptionsTest, RefusesWhatItCannotDo) {
  EXPECT_EQ(ErrorOf({"-B", "foo"}),
            "Invalid value for binding protocol: foo\n -- should be one of auto, binary, or "
            "ascii");
}

TEST(OptionsTest, BindsTheProtocolAsMemcachedDoes) {
  Options options;
  EXPECT_FALSE(options.binding_protocol.has_value());  // auto: each connection's first byte
  ASSERT_TRUE(Parse({"-B", "binary"}, &options).ok());
  EXPECT_EQ(options.binding_protocol, protocol::WireProtocol::kBinary);
  ASSERT_TRUE(Parse({"-B", "ascii"}, &options).ok());
  EXPECT_EQ(options.binding_protocol, protocol::WireProtocol::kAscii);
  ASSERT_TRUE(Parse({"-B", "binary", "-B", "auto"}, &options).ok());
  EXPECT_FALSE(options.binding_protocol.has_value());
}

TEST(OptionsTest, RejectsBadNumbersInMemcachedsWords) {
  EXPECT_EQ(ErrorOf({"-c", "0"}), "Maximum connections must be greater than 0");
  EXPECT_EQ(ErrorOf({"-t", "0"}), "Number of threads must be greater than 0");
  EXPECT_EQ(ErrorOf({"-f", "1"}), "Factor must be greater than 1");
  EXPECT_EQ(ErrorOf({"-n", "0"}), "Chunk size must be greater than 0");
  EXPECT_EQ(ErrorOf({"-R", "0"}), "Number of requests per event must be greater than 0");
  EXPECT_EQ(ErrorOf({"-p", "70000"}), "ERROR: Invalid port number 70000.");
  EXPECT_EQ(ErrorOf({"-p", "abc"}), "invalid value for -p: \"abc\"");
  EXPECT_EQ(ErrorOf({"-m", "12x"}), "invalid value for -m: \"12x\"");
}

TEST(OptionsTest, RejectsUnknownFlagsAndMissingArguments) {
  EXPECT_EQ(ErrorOf({"-x"}), "invalid option -- 'x'");
  EXPECT_EQ(ErrorOf({"--bogus"}), "invalid option --bogus");
  EXPECT_EQ(ErrorOf({"-p"}), "option requires an argument: -p");
  EXPECT_EQ(ErrorOf({"stray"}), "unexpected argument \"stray\"");
}

TEST(OptionsTest, ReadsMnemosExtendedOptions) {
  Options options;
  ASSERT_TRUE(
      Parse({"-o", "segment_size=512k,eviction=fifo,hashpower=20,idle_timeout=30"}, &options).ok());
  EXPECT_EQ(options.segment_size, size_t{512} << 10);
  EXPECT_EQ(options.eviction, storage::EvictionPolicy::kFifo);
  EXPECT_EQ(options.hash_power, 20);
  EXPECT_EQ(options.idle_timeout, 30);

  const storage::CacheOptions cache = options.ToCacheOptions();
  EXPECT_EQ(cache.segment_size, size_t{512} << 10);
  EXPECT_EQ(cache.eviction, storage::EvictionPolicy::kFifo);
  EXPECT_EQ(cache.hash_power_initial, 20);
  EXPECT_EQ(cache.memory_limit, size_t{64} << 20);
  EXPECT_EQ(cache.item_size_max, size_t{1} << 20);
}

TEST(OptionsTest, AcceptsMemcachedsTuningOptionsWithoutEffect) {
  Options options;
  ASSERT_TRUE(Parse({"-o",
                     "modern,slab_reassign,slab_automove=2,slab_chunk_max=16,lru_crawler,"
                     "lru_maintainer,hash_algorithm=xxh3,hot_lru_pct=10,warm_lru_pct=50,"
                     "slab_automove_ratio=0.5,lru_crawler_sleep=50,maxconns_fast"},
                    &options)
                  .ok());
  EXPECT_EQ(options.tuning.slab_automove, 2);
  EXPECT_EQ(options.tuning.slab_chunk_max, 16 << 10);
  EXPECT_EQ(options.tuning.hash_algorithm, "xxh3");
  EXPECT_EQ(options.tuning.hot_lru_pct, 10);
  EXPECT_DOUBLE_EQ(options.tuning.slab_automove_ratio, 0.5);

  ASSERT_TRUE(Parse({"-o", "no_modern"}, &options).ok());
  EXPECT_FALSE(options.tuning.slab_reassign);
  EXPECT_FALSE(options.tuning.lru_segmented);
  EXPECT_EQ(options.tuning.hash_algorithm, "jenkins");
}

TEST(OptionsTest, RejectsUnknownAndMalformedExtendedOptions) {
  EXPECT_EQ(ErrorOf({"-o", "bogus"}), "Illegal suboption \"bogus\"");
  EXPECT_EQ(ErrorOf({"-o", "idle_timeout=5,bogus=1"}), "Illegal suboption \"bogus=1\"");
  EXPECT_EQ(ErrorOf({"-o", "hashpower"}), "Missing argument for hashpower");
  EXPECT_EQ(ErrorOf({"-o", "hashpower=8"}), "Initial hashtable multiplier of 8 is too low");
  EXPECT_NE(ErrorOf({"-o", "eviction=lru"}).find("Unknown eviction option"), std::string::npos);
  EXPECT_NE(ErrorOf({"-o", "segment_size=1k"}).find("segment_size must be"), std::string::npos);
  EXPECT_NE(ErrorOf({"-o", "hash_algorithm=md5"}).find("Unknown hash_algorithm"),
            std::string::npos);
  EXPECT_EQ(ErrorOf({"-o", "hot_lru_pct=50,warm_lru_pct=50"}),
            "hot_lru_pct + warm_lru_pct cannot be more than 80% combined");
}

TEST(OptionsTest, HelpAndVersionStopParsing) {
  Options options;
  CommandLineAction action;
  ASSERT_TRUE(Parse({"-V", "-x"}, &options, &action).ok());
  EXPECT_EQ(action, CommandLineAction::kPrintVersion);
  ASSERT_TRUE(Parse({"-h"}, &options, &action).ok());
  EXPECT_EQ(action, CommandLineAction::kPrintHelp);
  EXPECT_NE(UsageText().find("-p, --port=<num>"), std::string::npos);
}

TEST(OptionsTest, ExtstoreOptionsKeepMemcachedsDefaultsAndUnits) {
  Options options;
  ASSERT_TRUE(Parse({}, &options).ok());
  EXPECT_TRUE(options.ext.paths.empty());
  EXPECT_EQ(options.ext.page_size, 64u << 20);
  EXPECT_EQ(options.ext.wbuf_size, 4u << 20);
  EXPECT_EQ(options.ext.item_age, UINT32_MAX);
  ASSERT_TRUE(Parse({"-o",
                     "ext_path=/a/f:64m,ext_path=::/b/g:2G:compact,ext_page_size=32,"
                     "ext_wbuf_size=8,ext_threads=3,ext_io_depth=4,ext_item_size=100,"
                     "ext_item_age=5,ext_low_ttl=6,ext_recache_rate=7,ext_compact_under=8,"
                     "ext_drop_under=9,ext_max_sleep=10,ext_max_frag=0.5,ext_drop_unread,"
                     "slab_automove_freeratio=0.02"},
                    &options)
                  .ok());
  const std::vector<ExtstoreOptions::Path> paths = {{"/a/f", uint64_t{64} << 20},
                                                    {"/b/g", uint64_t{2} << 30}};
  EXPECT_EQ(options.ext.paths, paths);
  EXPECT_EQ(options.ext.page_size, 32u << 20);
  EXPECT_EQ(options.ext.wbuf_size, 8u << 20);
  EXPECT_EQ(options.ext.threads, 3u);
  EXPECT_EQ(options.ext.io_depth, 4u);
  EXPECT_EQ(options.ext.item_size, 100u);
  EXPECT_EQ(options.ext.item_age, 5u);
  EXPECT_EQ(options.ext.low_ttl, 6u);
  EXPECT_EQ(options.ext.recache_rate, 7u);
  EXPECT_EQ(options.ext.compact_under, 8u);
  EXPECT_EQ(options.ext.drop_under, 9u);
  EXPECT_EQ(options.ext.max_sleep, 10u);
  EXPECT_EQ(options.ext.max_frag, 0.5);
  EXPECT_TRUE(options.ext.drop_unread);
  EXPECT_EQ(options.ext.slab_automove_freeratio, 0.02);
}

TEST(OptionsTest, ExtstoreNumbersReadAsMemcachedReadsThem) {
  Options options;
  // safe_strtoul: trailing space allowed, a 64-bit number cut to 32 bits.
  ASSERT_TRUE(Parse({"-o", "ext_item_size=7 ,ext_low_ttl=4294967297"}, &options).ok());
  EXPECT_EQ(options.ext.item_size, 7u);
  EXPECT_EQ(options.ext.low_ttl, 1u);
  EXPECT_EQ(ErrorOf({"-o", "ext_item_size=abc"}), "could not parse argument to ext_item_size");
  EXPECT_EQ(ErrorOf({"-o", "ext_item_size=-1"}), "could not parse argument to ext_item_size");
  EXPECT_EQ(ErrorOf({"-o", "ext_item_size=5x"}), "could not parse argument to ext_item_size");
  EXPECT_EQ(ErrorOf({"-o", "ext_max_frag=high"}), "could not parse argument to ext_max_frag");
  EXPECT_EQ(ErrorOf({"-o", "ext_threads"}), "Missing ext_threads argument");
  EXPECT_EQ(ErrorOf({"-o", "ext_no_such=1"}), "Illegal suboption \"ext_no_such=1\"");
}

TEST(OptionsTest, ExtPathErrorsAreMemcacheds) {
  EXPECT_EQ(ErrorOf({"-o", "ext_path"}), "missing argument to ext_path, ie: ext_path=/d/file:5G");
  EXPECT_EQ(ErrorOf({"-o", "ext_path=:::"}), "failed to parse ext_path argument");
  EXPECT_EQ(ErrorOf({"-o", "ext_path=/x"}),
            "must supply size to ext_path, ie: ext_path=/f/e:64m (M|G|T|P supported)\n"
            "failed to parse ext_path argument");
  EXPECT_EQ(ErrorOf({"-o", "ext_path=/x:64k"}),
            "must supply size to ext_path, ie: ext_path=/f/e:64m (m|g|t|p supported)\n"
            "failed to parse ext_path argument");
  EXPECT_EQ(ErrorOf({"-o", "ext_path=/x:64m:hot"}),
            "Unknown extstore bucket: hot\nfailed to parse ext_path argument");
  // Smaller than one of memcached's pages (64m, or ext_page_size), or no number at all.
  EXPECT_EQ(ErrorOf({"-o", "ext_path=/x:32m"}), "supplied ext_path has zero size, cannot use");
  EXPECT_EQ(ErrorOf({"-o", "ext_path=/x:Gm"}), "supplied ext_path has zero size, cannot use");
  Options options;
  ASSERT_TRUE(Parse({"-o", "ext_page_size=2,ext_path=/x:32m"}, &options).ok());
  EXPECT_EQ(ErrorOf({"-o", "ext_page_size=0,ext_path=/x:1g"}), "ext_page_size cannot be 0");
}

}  // namespace
}  // namespace mnemo::server
