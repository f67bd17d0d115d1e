#include "server/credentials.h"

#include <gtest/gtest.h>

#include <string>

namespace mnemo::server {
namespace {

using Format = Credentials::Format;

Credentials Parsed(Format format, const std::string& text) {
  Credentials credentials;
  const Status status = Credentials::Parse(format, "f", text, &credentials);
  EXPECT_TRUE(status.ok()) << status.message();
  return credentials;
}

TEST(CredentialsTest, ComparesInFullWhateverTheLengths) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
  EXPECT_FALSE(ConstantTimeEquals("secret2", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(CredentialsTest, ReadsAnAuthFileAsMemcachedDoes) {
  const Credentials c =
      Parsed(Format::kAsciiAuthFile, "alice:secret\nbob:pa:ss word\r\n:nameless\ncarol:\n");
  EXPECT_EQ(c.size(), 4u);
  EXPECT_TRUE(c.Check("alice", "secret"));
  EXPECT_TRUE(c.Check("bob", "pa:ss word"));  // the password runs to the line's end
  EXPECT_TRUE(c.Check("", "nameless"));
  EXPECT_TRUE(c.Check("carol", ""));
  EXPECT_FALSE(c.Check("alice", "secre"));
  EXPECT_FALSE(c.Check("alice", "secret\n"));
  EXPECT_FALSE(c.Check("alic", "secret"));
  EXPECT_FALSE(c.Check("bob", "pa"));
}

TEST(CredentialsTest, AnAuthFileHoldsEightEntriesAtMost) {
  std::string text;
  for (int i = 0; i < 10; ++i) text += "u" + std::to_string(i) + ":p\n";
  const Credentials c = Parsed(Format::kAsciiAuthFile, text);
  EXPECT_EQ(c.size(), Credentials::kMaxAsciiEntries);
  EXPECT_TRUE(c.Check("u7", "p"));
  EXPECT_FALSE(c.Check("u8", "p"));
}

TEST(CredentialsTest, AnAuthFileLineWithoutAColonIsMalformed) {
  Credentials c;
  for (const std::string text : {"alice\n", "alice:secret\n\nbob:x\n", "alice:a\nbob\n"}) {
    const Status status = Credentials::Parse(Format::kAsciiAuthFile, "/etc/auth", text, &c);
    ASSERT_FALSE(status.ok()) << text;
    EXPECT_EQ(status.message(),
              "Authfile [/etc/auth] has a malformed entry. Should be 'user:password'");
  }
}

TEST(CredentialsTest, AnAuthFileEndsAtALineTooLongOrUnterminated) {
  const std::string long_line = "long:" + std::string(300, 'x') + "\n";
  const Credentials c = Parsed(Format::kAsciiAuthFile, "a:1\n" + long_line + "b:2\n");
  EXPECT_TRUE(c.Check("a", "1"));
  EXPECT_TRUE(c.Check("long", std::string(Credentials::kMaxLineBytes - 5, 'x')));
  EXPECT_FALSE(c.Check("b", "2"));
  EXPECT_TRUE(Parsed(Format::kAsciiAuthFile, "a:1\nb:2").Check("b", "2"));
}

TEST(CredentialsTest, ReadsASaslPasswordDbAsMemcachedDoes) {
  const Credentials c =
      Parsed(Format::kSaslPasswordDb, "# comment\nalice:secret:extra\n\nbob:pw\r\ncarol:x");
  EXPECT_TRUE(c.Check("alice", "secret"));  // the password ends at the next ':'
  EXPECT_FALSE(c.Check("alice", "secret:extra"));
  EXPECT_TRUE(c.Check("bob", "pw"));
  EXPECT_TRUE(c.Check("carol", "x"));
  EXPECT_FALSE(c.Check("# comment", ""));
}

TEST(CredentialsTest, AMissingFileIsReportedInMemcachedsWords) {
  Credentials c;
  const std::string path = ::testing::TempDir() + "/credentials_test_missing";
  const Status status = Credentials::Load(Format::kAsciiAuthFile, path, &c);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "Could not open authfile [" + path +
                                  "] for reading, error No such file or directory: No such file "
                                  "or directory");
}

TEST(CredentialsTest, AStoreKeepsItsCredentialsWhenAReloadFails) {
  const std::string path = ::testing::TempDir() + "/credentials_test_auth";
  FILE* file = std::fopen(path.c_str(), "w");
  ASSERT_NE(file, nullptr);
  std::fputs("alice:secret\n", file);
  std::fclose(file);
  CredentialStore store(Format::kAsciiAuthFile, path);
  EXPECT_FALSE(store.Check("alice", "secret"));  // nothing loaded yet
  ASSERT_TRUE(store.Load().ok());
  EXPECT_TRUE(store.Check("alice", "secret"));
  file = std::fopen(path.c_str(), "w");
  std::fputs("malformed\n", file);
  std::fclose(file);
  EXPECT_FALSE(store.Load().ok());
  EXPECT_TRUE(store.Check("alice", "secret"));
  file = std::fopen(path.c_str(), "w");
  std::fputs("bob:pw\n", file);
  std::fclose(file);
  ASSERT_TRUE(store.Load().ok());
  EXPECT_FALSE(store.Check("alice", "secret"));
  EXPECT_TRUE(store.Check("bob", "pw"));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace mnemo::server
