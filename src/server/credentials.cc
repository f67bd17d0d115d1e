#include "server/credentials.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/logging.h"

namespace mnemo::server {
namespace {

// The next line as memcached's fgets reads it: through its '\n', at most kMaxLineBytes bytes.
std::string_view NextLine(std::string_view text, size_t* pos) {
  const std::string_view rest = text.substr(*pos, Credentials::kMaxLineBytes);
  const size_t newline = rest.find('\n');
  const std::string_view line =
      newline == std::string_view::npos ? rest : rest.substr(0, newline + 1);
  *pos += line.size();
  return line;
}

// Where a password that starts at `from` ends: at a '\n', '\r' or NUL, or the line's end.
size_t PasswordEnd(std::string_view line, size_t from, std::string_view also_ends) {
  for (size_t i = from; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\n' || c == '\r' || c == '\0' || also_ends.find(c) != std::string_view::npos) {
      return i;
    }
  }
  return line.size();
}

}  // namespace

void LogAuthFailure(std::string_view how, std::string_view user) {
  if (g_verbosity.load(std::memory_order_relaxed) < 1) return;
  constexpr size_t kMaxShown = 64;
  std::string shown(user.substr(0, kMaxShown));
  for (char& c : shown) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  std::fprintf(stderr, "INFO: User <%s> failed to authenticate (%.*s)\n", shown.c_str(),
               static_cast<int>(how.size()), how.data());
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Every byte of b is looked at whatever a holds; no branch depends on a byte's value.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < b.size(); ++i) {
    const unsigned char mine = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    diff |= static_cast<unsigned char>(mine ^ static_cast<unsigned char>(b[i]));
  }
  return diff == 0;
}

Status Credentials::Parse(Format format, std::string_view path, std::string_view text,
                          Credentials* out) {
  out->entries_.clear();
  size_t pos = 0;
  while (pos < text.size()) {
    const std::string_view line = NextLine(text, &pos);
    // The user ends at the first ':' (a NUL ends the line for memcached's scan).
    const size_t nul = line.find('\0');
    const size_t colon = line.substr(0, nul).find(':');
    if (format == Format::kSaslPasswordDb) {
      if (colon == std::string_view::npos) continue;  // matches nobody
      const size_t end = PasswordEnd(line, colon + 1, ":");
      out->entries_.emplace_back(line.substr(0, colon), line.substr(colon + 1, end - colon - 1));
      continue;
    }
    if (colon == std::string_view::npos) {
      out->entries_.clear();
      return Status::Error("Authfile [" + std::string(path) +
                           "] has a malformed entry. Should be 'user:password'");
    }
    const size_t end = PasswordEnd(line, colon + 1, {});
    out->entries_.emplace_back(line.substr(0, colon), line.substr(colon + 1, end - colon - 1));
    if (out->entries_.size() == kMaxAsciiEntries) break;  // memcached ignores the rest
    // memcached takes a line that its password does not end with '\n' or '\r' for the file's
    // end (a last line, one too long for its buffer, a NUL), and reads no further.
    if (end == line.size() || line[end] == '\0') break;
  }
  return Status::Ok();
}

Status Credentials::Load(Format format, const std::string& path, Credentials* out) {
  FILE* file = std::fopen(path.c_str(), "r");
  if (file == nullptr) {
    const std::string error = std::strerror(errno);
    if (format == Format::kSaslPasswordDb) {
      return Status::Error("Failed to open sasl database <" + path + ">: " + error);
    }
    return Status::Error("Could not open authfile [" + path + "] for reading, error " + error +
                         ": " + error);
  }
  std::string text;
  char buffer[4096];
  size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof(buffer), file)) > 0) text.append(buffer, got);
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) return Status::Error("Could not read " + path);
  return Parse(format, path, text, out);
}

bool Credentials::Check(std::string_view user, std::string_view password) const {
  bool found = false;
  for (const auto& [known_user, known_password] : entries_) {
    // Both compared, and every entry, so that the time says nothing of which matched or where.
    const bool user_matches = ConstantTimeEquals(user, known_user);
    const bool password_matches = ConstantTimeEquals(password, known_password);
    found |= user_matches & password_matches;
  }
  return found;
}

CredentialStore::CredentialStore(Credentials::Format format, std::string path)
    : format_(format), path_(std::move(path)), current_(std::make_shared<Credentials>()) {}

Status CredentialStore::Load() {
  auto loaded = std::make_shared<Credentials>();
  Status status = Credentials::Load(format_, path_, loaded.get());
  if (!status.ok()) return status;
  MutexLock lock(mu_);
  current_ = std::move(loaded);
  return Status::Ok();
}

bool CredentialStore::Check(std::string_view user, std::string_view password) const {
  std::shared_ptr<const Credentials> credentials;
  {
    MutexLock lock(mu_);
    credentials = current_;
  }
  return credentials->Check(user, password);
}

}  // namespace mnemo::server
