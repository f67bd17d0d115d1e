// TlsContext is the server's one TLS configuration (an OpenSSL SSL_CTX): the certificate chain and
// key it presents, how it verifies clients' certificates, the ciphers and versions it accepts.
// Every TLS connection of every worker is made from it (NewStream). It follows memcached 1.6.45's
// tls.c: the same OpenSSL calls in the same order, so the same files succeed or fail with the same
// words.
//
// Create() and Reload() (memcached's refresh_certs, and SIGHUP) read the certificate files; a
// reload that fails leaves the context as it was, and a connection made after a reload that
// succeeded presents the new certificate. Besides what memcached checks, the leaf certificate must
// be valid now: a certificate that has expired (or is not valid yet) is refused with its dates, so
// that a server does not start, or swap to, a certificate every client will refuse.
//
// Invariants:
//  (1) Once Create() succeeded, ctx_ holds a chain and a key that match, and a certificate valid
//      when it was loaded.
//  (2) last_refresh() is the MonotonicSeconds() of the last Create() or Reload() that succeeded.
// Thread safety: NewStream() and Reload() may be called from any thread: they take mu_, as
// memcached takes its ssl_ctx_lock around SSL_new and the reload. The rest is set up once before
// the workers start.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"

struct ssl_ctx_st;

namespace mnemo::net {

class TlsStream;

// memcached's -o ssl_* settings, in memcached's representation (its `stats settings` shows the
// numbers as they are here).
struct TlsConfig {
  static constexpr int kFiletypePem = 1;        // SSL_FILETYPE_PEM
  static constexpr int kTls12Version = 0x0303;  // TLS1_2_VERSION

  std::string chain_cert;         // ssl_chain_cert; empty: not given (memcached's NULL)
  std::string key;                // ssl_key; likewise
  int verify_mode = 0;            // SSL_VERIFY_* flags, mapped from ssl_verify_mode (SetVerifyMode)
  int keyformat = kFiletypePem;   // ssl_keyformat: SSL_FILETYPE_PEM (1) or SSL_FILETYPE_ASN1 (2)
  std::string ciphers;            // ssl_ciphers; empty: OpenSSL's default list
  std::string ca_cert;            // ssl_ca_cert; empty: none
  uint32_t wbuf_size = 16 << 10;  // ssl_wbuf_size, given in kilobytes: the most one write encrypts
  bool session_cache = false;     // ssl_session_cache
  bool kernel_tls = false;        // ssl_kernel_tls
  int min_version = kTls12Version;  // ssl_min_version, as a TLS*_VERSION number

  // ssl_verify_mode=N: 0 none, 1 request, 2 require, 3 once. False if N is none of them.
  bool SetVerifyMode(int mode);
  // ssl_min_version=N: 0 TLS 1.0, 1 TLS 1.1, 2 TLS 1.2, 3 TLS 1.3. False if N is none of them.
  bool SetMinVersion(int version);
  bool operator==(const TlsConfig&) const = default;
};

// How a listener's connections speak, with -Z (memcached's -l prefixes): TLS as the -o ssl_*
// options configure it; TLS that asks for no client certificate (btls:); TLS that requires one
// (mtls:), whatever ssl_verify_mode says; plain TCP (notls:).
enum class TlsMode : uint8_t { kConfigured, kNoPeer, kPeer, kOff };

// memcached's name for a TLS*_VERSION number: "tlsv1.2", or "unknown".
const char* TlsVersionName(int version);

class TlsContext {
 public:
  // Makes the context and loads the certificates. On error, the status is memcached's message
  // (ssl_init and load_server_certificates), and OpenSSL's remaining errors have been printed to
  // stderr as memcached prints them.
  static Status Create(const TlsConfig& config, std::unique_ptr<TlsContext>* context);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // refresh_certs: reads the certificate chain, the key and the CA file again. On error, the
  // message is memcached's (without its "\r\n"), and the context is unchanged.
  Status Reload() EXCLUDES(mu_);

  // A TLS stream for the accepted socket `fd`, which stays owned by the caller, verifying the
  // client as `mode` says; null if OpenSSL has no memory for it.
  // REQUIRES: mode != TlsMode::kOff.
  std::unique_ptr<TlsStream> NewStream(int fd, TlsMode mode = TlsMode::kConfigured) EXCLUDES(mu_);

  const TlsConfig& config() const { return config_; }
  uint32_t last_refresh() const { return last_refresh_.load(std::memory_order_relaxed); }

 private:
  explicit TlsContext(TlsConfig config) : config_(std::move(config)) {}

  const TlsConfig config_;
  Mutex mu_;
  ssl_ctx_st* ctx_ GUARDED_BY(mu_) = nullptr;
  std::atomic<uint32_t> last_refresh_{0};
};

}  // namespace mnemo::net
