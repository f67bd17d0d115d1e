#include "server/sasl.h"

namespace mnemo::server {
namespace {

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

SaslExchange::Result SaslExchange::Start(std::string_view mechanism, std::string_view data,
                                         const CredentialStore& store) {
  authenticated_ = false;
  awaiting_plain_ = false;
  last_user_ = {};
  if (!EqualsIgnoringCase(mechanism, kMechanisms)) return Result::kFailed;
  if (data.empty()) {
    awaiting_plain_ = true;
    return Result::kContinue;
  }
  return CheckPlain(data, store);
}

SaslExchange::Result SaslExchange::Step(std::string_view data, const CredentialStore& store) {
  authenticated_ = false;
  last_user_ = {};
  if (!awaiting_plain_) return Result::kFailed;  // no exchange waits for a step
  awaiting_plain_ = false;
  return CheckPlain(data, store);
}

SaslExchange::Result SaslExchange::CheckPlain(std::string_view message,
                                              const CredentialStore& store) {
  // authzid NUL authcid NUL password, the password without a NUL (Cyrus's plain plugin).
  const size_t first = message.find('\0');
  if (first == std::string_view::npos) return Result::kFailed;
  const size_t second = message.find('\0', first + 1);
  if (second == std::string_view::npos) return Result::kFailed;
  const std::string_view authzid = message.substr(0, first);
  const std::string_view user = message.substr(first + 1, second - first - 1);
  const std::string_view password = message.substr(second + 1);
  last_user_ = user;
  if (password.find('\0') != std::string_view::npos || user.empty()) return Result::kFailed;
  // Acting as another user needs a proxy policy, which memcached never grants.
  if (!authzid.empty() && authzid != user) return Result::kFailed;
  if (!store.Check(user, password)) return Result::kFailed;
  authenticated_ = true;
  return Result::kAuthenticated;
}

}  // namespace mnemo::server
