// Credentials are the user:password pairs that authenticate clients, read from memcached's two
// files: the ascii authentication file of -Y (memcached's authfile.c) and the SASL password
// database that $MEMCACHED_SASL_PWDB names under -S (memcached's sasl_defs.c, as memcached
// built with --enable-sasl-pwdb reads it). Each format is read as memcached reads it:
//  - -Y: at most kMaxAsciiEntries entries, each line "user:password" (the password ends at the
//    line's end, '\r' included); a line without ':' makes the whole file malformed. A line of
//    kMaxLineBytes bytes or more ends the reading there, as memcached's fgets loop does.
//  - SASL: every line; the user ends at the first ':', the password at the next ':' or the line's
//    end; a line without ':' matches nobody.
// Check() compares in time that depends on the lengths of the stored entries and of what it is
// given, never on where the first differing byte is (no early exit, every entry compared).
//
// CredentialStore holds the credentials of one file for every worker, and reads the file again
// on Reload (SIGHUP, as memcached reloads its -Y file): a reload that fails keeps the old ones.
//
// Thread safety: Credentials is immutable once loaded. CredentialStore is safe from any thread:
// Check takes its mutex only to copy a shared pointer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"

namespace mnemo::server {

class Credentials {
 public:
  enum class Format : uint8_t { kAsciiAuthFile, kSaslPasswordDb };
  // memcached's MAX_ENTRIES for -Y, and MAX_ENTRY_LEN for both: fgets reads at most 255 bytes.
  static constexpr size_t kMaxAsciiEntries = 8;
  static constexpr size_t kMaxLineBytes = 255;

  // Parses the text of a file in `format`. -Y's errors are memcached's start-up messages.
  static Status Parse(Format format, std::string_view path, std::string_view text,
                      Credentials* out);
  // Reads and parses the file at `path`.
  static Status Load(Format format, const std::string& path, Credentials* out);

  // Whether (user, password) is one of the entries.
  [[nodiscard]] bool Check(std::string_view user, std::string_view password) const;

  size_t size() const { return entries_.size(); }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

class CredentialStore {
 public:
  CredentialStore(Credentials::Format format, std::string path);

  // Reads the file; on failure keeps what was loaded before.
  Status Load() EXCLUDES(mu_);
  [[nodiscard]] bool Check(std::string_view user, std::string_view password) const EXCLUDES(mu_);
  const std::string& path() const { return path_; }

 private:
  const Credentials::Format format_;
  const std::string path_;
  mutable Mutex mu_;
  std::shared_ptr<const Credentials> current_ GUARDED_BY(mu_);
};

// Says at -v that `user` failed to authenticate over `how` (memcached's "User <...> failed to
// authenticate"): its unprintable bytes shown as '?', at most 64 of them. Never given a password.
void LogAuthFailure(std::string_view how, std::string_view user);

// Whether a and b hold the same bytes, in time that depends only on their lengths.
[[nodiscard]] bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace mnemo::server
