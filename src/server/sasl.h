// SaslExchange is one connection's SASL authentication under -S, as memcached 1.6.45 built with
// SASL runs it through Cyrus SASL with its password database (MEMCACHED_SASL_PWDB): the PLAIN
// mechanism (RFC 4616), whose message "authzid NUL authcid NUL password" is checked against the
// CredentialStore. As in Cyrus, a mechanism name matches whatever its case, PLAIN sent with no
// data asks for it (kContinue) and the next step brings it, an authorization identity other
// than the user is refused, and every start or step first drops the connection's authentication
// (memcached's init_sasl_conn), so that a failed attempt leaves it unauthenticated.
//
// Thread safety: none; one per connection, used by its worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/credentials.h"

namespace mnemo::server {

class SaslExchange {
 public:
  enum class Result : uint8_t {
    kAuthenticated,  // "Authenticated"
    kContinue,       // status 0x21: send the next step
    kFailed,         // "Auth failure."
  };
  // What list-mechs answers.
  static constexpr std::string_view kMechanisms = "PLAIN";
  // memcached's MAX_SASL_MECH_LEN: a longer mechanism name is "Invalid arguments".
  static constexpr size_t kMaxMechanismName = 32;

  // SASL auth (0x21): starts an exchange with `mechanism`, with the client's first `data`.
  Result Start(std::string_view mechanism, std::string_view data, const CredentialStore& store);
  // SASL step (0x22): the next `data` of the exchange Start began.
  Result Step(std::string_view data, const CredentialStore& store);

  bool authenticated() const { return authenticated_; }
  // The user named by the last PLAIN message, for the log of a failed attempt.
  std::string_view last_user() const { return last_user_; }

 private:
  Result CheckPlain(std::string_view message, const CredentialStore& store);

  bool authenticated_ = false;
  bool awaiting_plain_ = false;  // PLAIN started without its message: a step brings it
  // A view into the last message, valid only while it is being answered.
  std::string_view last_user_;
};

}  // namespace mnemo::server
