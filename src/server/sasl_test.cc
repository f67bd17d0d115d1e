#include "server/sasl.h"

#include <gtest/gtest.h>

#include <string>

namespace mnemo::server {
namespace {

using Result = SaslExchange::Result;

class SaslTest : public ::testing::Test {
 protected:
  SaslTest() {
    const std::string path = ::testing::TempDir() + "/sasl_test_pwdb";
    FILE* file = std::fopen(path.c_str(), "w");
    std::fputs("alice:secret\nbob:pw\n", file);
    std::fclose(file);
    EXPECT_TRUE(store_.Load().ok());
    std::remove(path.c_str());
  }

  static std::string Plain(const std::string& authzid, const std::string& user,
                           const std::string& password) {
    return authzid + '\0' + user + '\0' + password;
  }

  CredentialStore store_{Credentials::Format::kSaslPasswordDb,
                         ::testing::TempDir() + "/sasl_test_pwdb"};
  SaslExchange sasl_;
};

TEST_F(SaslTest, PlainAuthenticatesAKnownUser) {
  EXPECT_EQ(sasl_.Start("PLAIN", Plain("", "alice", "secret"), store_), Result::kAuthenticated);
  EXPECT_TRUE(sasl_.authenticated());
  EXPECT_EQ(sasl_.Start("plain", Plain("bob", "bob", "pw"), store_), Result::kAuthenticated);
}

TEST_F(SaslTest, RefusesWrongCredentialsAndMalformedMessages) {
  for (const std::string& message :
       {Plain("", "alice", "wrong"), Plain("", "alice", "secret2"), Plain("", "eve", "secret"),
        Plain("bob", "alice", "secret"), Plain("", "", ""), std::string("alice"),
        std::string("\0alice", 6), Plain("", "alice", std::string("secret\0", 7))}) {
    EXPECT_EQ(sasl_.Start("PLAIN", message, store_), Result::kFailed);
    EXPECT_FALSE(sasl_.authenticated());
  }
  EXPECT_EQ(sasl_.Start("CRAM-MD5", Plain("", "alice", "secret"), store_), Result::kFailed);
}

TEST_F(SaslTest, PlainWithoutDataTakesItFromTheNextStep) {
  EXPECT_EQ(sasl_.Start("PLAIN", "", store_), Result::kContinue);
  EXPECT_FALSE(sasl_.authenticated());
  EXPECT_EQ(sasl_.Step(Plain("", "alice", "secret"), store_), Result::kAuthenticated);
  EXPECT_TRUE(sasl_.authenticated());
  // The exchange is over: another step fails, and takes the authentication away.
  EXPECT_EQ(sasl_.Step(Plain("", "alice", "secret"), store_), Result::kFailed);
  EXPECT_FALSE(sasl_.authenticated());
}

TEST_F(SaslTest, AStepWithoutAStartFails) {
  EXPECT_EQ(sasl_.Step(Plain("", "alice", "secret"), store_), Result::kFailed);
}

TEST_F(SaslTest, AFailedAttemptLeavesTheConnectionUnauthenticated) {
  ASSERT_EQ(sasl_.Start("PLAIN", Plain("", "alice", "secret"), store_), Result::kAuthenticated);
  const std::string wrong = Plain("", "alice", "nope");
  EXPECT_EQ(sasl_.Start("PLAIN", wrong, store_), Result::kFailed);
  EXPECT_FALSE(sasl_.authenticated());
  EXPECT_EQ(sasl_.last_user(), "alice");
}

}  // namespace
}  // namespace mnemo::server
