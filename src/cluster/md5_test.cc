#include "cluster/md5.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace mnemo::cluster {
namespace {

std::string Hex(const Md5Digest& d) {
  std::string out;
  char byte[3];
  for (uint8_t b : d) {
    std::snprintf(byte, sizeof(byte), "%02x", b);
    out += byte;
  }
  return out;
}

// The test suite of RFC 1321, appendix A.5.
TEST(Md5Test, MatchesRfc1321TestSuite) {
  EXPECT_EQ(Hex(Md5("")), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(Hex(Md5("a")), "0cc175b9c0f1b6a831c399e269772661");
  EXPECT_EQ(Hex(Md5("abc")), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(Hex(Md5("message digest")), "f96b697d7cb7938d525a2f31aaf161d0");
  EXPECT_EQ(Hex(Md5("abcdefghijklmnopqrstuvwxyz")), "c3fcd3d76192e4007dfb496cca67e13b");
  EXPECT_EQ(Hex(Md5("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")),
            "d174ab98d277d9f5a5611c2c9f419d9f");
  EXPECT_EQ(Hex(Md5("1234567890123456789012345678901234567890123456789012345678901234567890123456"
                    "7890")),
            "57edf4a22be3c955ac49da2e2107b67a");
}

// Lengths around the block and padding boundaries (55, 56, 63, 64, 65 bytes) take different
// paths through the tail; the expected digests come from coreutils' md5sum.
TEST(Md5Test, HandlesPaddingBoundaries) {
  EXPECT_EQ(Hex(Md5(std::string(55, 'a'))), "ef1772b6dff9a122358552954ad0df65");
  EXPECT_EQ(Hex(Md5(std::string(56, 'a'))), "3b0c8ac703f828b04c6c197006d17218");
  EXPECT_EQ(Hex(Md5(std::string(63, 'a'))), "b06521f39153d618550606be297466d5");
  EXPECT_EQ(Hex(Md5(std::string(64, 'a'))), "014842d480b571495a4a0363793f7367");
  EXPECT_EQ(Hex(Md5(std::string(65, 'a'))), "c743a45e0d2e6a95cb859adae0248435");
}

}  // namespace
}  // namespace mnemo::cluster
