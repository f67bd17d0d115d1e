#include "net/tls_context.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <utility>

#include "base/clock.h"
#include "net/tls_stream.h"

namespace mnemo::net {
namespace {

// memcached's session id context, for server-side session caching.
constexpr char kSessionIdContext[] = "memcached";

// The top of OpenSSL's error queue in its words (memcached's print_ssl_error).
std::string TopError() {
  char text[256] = {};
  const unsigned long error = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type
  if (error != 0) ERR_error_string_n(error, text, sizeof(text));
  return text;
}

// memcached prints (null) for a file that was not given.
std::string PathOrNull(const std::string& path) { return path.empty() ? "(null)" : path; }

// Whether `path` was given. memcached hands a file that was not given to OpenSSL as NULL, whose
// fopen fails with EFAULT ("Bad address"); this queues the same error without that call.
bool Given(const std::string& path) {
  if (!path.empty()) return true;
  ERR_raise(ERR_LIB_SYS, EFAULT);
  return false;
}

std::string TimeText(const ASN1_TIME* time) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "?";
  ASN1_TIME_print(bio, time);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);  // NOLINT(google-runtime-int): OpenSSL's type
  std::string text(data, static_cast<size_t>(size));
  BIO_free(bio);
  return text;
}

// Beyond memcached: the leaf certificate must be valid now.
Status CheckValidity(SSL_CTX* ctx, const std::string& path) {
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (cert == nullptr) return Status::Ok();
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
    return Status::Error(
        "Error validating the certificate: " + path +
        " : certificate has expired (notAfter=" + TimeText(X509_get0_notAfter(cert)) + ")");
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    return Status::Error(
        "Error validating the certificate: " + path +
        " : certificate is not yet valid (notBefore=" + TimeText(X509_get0_notBefore(cert)) + ")");
  }
  return Status::Ok();
}

// memcached's load_server_certificates, into `ctx`.
Status LoadServerCertificates(SSL_CTX* ctx, const TlsConfig& config) {
  // Each step's message quotes the first error it queued: none may be left from the one before.
  ERR_clear_error();
  if (!Given(config.chain_cert) ||
      SSL_CTX_use_certificate_chain_file(ctx, config.chain_cert.c_str()) != 1) {
    return Status::Error("Error loading the certificate chain: " + PathOrNull(config.chain_cert) +
                         " : " + TopError());
  }
  ERR_clear_error();
  if (!Given(config.key) ||
      SSL_CTX_use_PrivateKey_file(ctx, config.key.c_str(), config.keyformat) != 1) {
    return Status::Error("Error loading the key: " + PathOrNull(config.key) + " : " + TopError());
  }
  ERR_clear_error();
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return Status::Error("Error validating the certificate: " + TopError());
  }
  Status valid = CheckValidity(ctx, config.chain_cert);
  if (!valid.ok()) return valid;
  if (!config.ca_cert.empty()) {
    ERR_clear_error();
    if (SSL_CTX_load_verify_locations(ctx, config.ca_cert.c_str(), nullptr) != 1) {
      return Status::Error("Error loading the CA certificate: " + config.ca_cert + " : " +
                           TopError());
    }
    SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(config.ca_cert.c_str()));
  }
  return Status::Ok();
}

int OnNewSession(SSL* ssl, SSL_SESSION* /*session*/) {
  TlsStream::NoteNewSession(ssl);
  return 0;  // the cache keeps no reference of ours
}

// memcached's ssl_init: a context from `config`, certificates loaded. On error, OpenSSL's other
// errors are printed as memcached prints them, and *out is unchanged.
Status Build(const TlsConfig& config, SSL_CTX** out) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Status::Error("Error creating the TLS context: " + TopError());
  SSL_CTX_set_min_proto_version(ctx, config.min_version);
  Status status = LoadServerCertificates(ctx, config);
  if (status.ok()) {
    SSL_CTX_set_verify(ctx, config.verify_mode, nullptr);
    if (!config.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, config.ciphers.c_str()) != 1) {
      status = Status::Error("Error setting the provided cipher(s): " + config.ciphers);
    }
  }
  if (!status.ok()) {
    ERR_print_errors_fp(stderr);  // and drains the queue
    SSL_CTX_free(ctx);
    return status;
  }
  if (config.session_cache) {
    SSL_CTX_sess_set_new_cb(ctx, OnNewSession);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_session_id_context(ctx, reinterpret_cast<const unsigned char*>(kSessionIdContext),
                                   sizeof(kSessionIdContext) - 1);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  if (config.kernel_tls) SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  // Idle connections hold no record buffers (memcached's choice too). A write that must wait is
  // retried from the connection's output, which may have moved (TlsStream::Write).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // A connection reads until OpenSSL wants the socket (edge-triggered epoll), so OpenSSL may read
  // ahead: a batch of records costs one read() instead of two per record (header, then body).
  SSL_CTX_set_read_ahead(ctx, 1);
  *out = ctx;
  return Status::Ok();
}

}  // namespace

bool TlsConfig::SetVerifyMode(int mode) {
  switch (mode) {
    case 0:
      verify_mode = SSL_VERIFY_NONE;
      return true;
    case 1:
      verify_mode = SSL_VERIFY_PEER;
      return true;
    case 2:
      verify_mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
      return true;
    case 3:
      verify_mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT | SSL_VERIFY_CLIENT_ONCE;
      return true;
    default:
      return false;
  }
}

bool TlsConfig::SetMinVersion(int version) {
  static constexpr int kVersions[] = {TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION, TLS1_3_VERSION};
  if (version < 0 || version > 3) return false;
  min_version = kVersions[version];
  return true;
}

const char* TlsVersionName(int version) {
  switch (version) {
    case TLS1_VERSION:
      return "tlsv1.0";
    case TLS1_1_VERSION:
      return "tlsv1.1";
    case TLS1_2_VERSION:
      return "tlsv1.2";
    case TLS1_3_VERSION:
      return "tlsv1.3";
    default:
      return "unknown";
  }
}

Status TlsContext::Create(const TlsConfig& config, std::unique_ptr<TlsContext>* context) {
  OPENSSL_init_ssl(0, nullptr);
  std::unique_ptr<TlsContext> made(new TlsContext(config));
  {
    MutexLock lock(made->mu_);
    Status status = Build(config, &made->ctx_);
    if (!status.ok()) return status;
  }
  made->last_refresh_.store(MonotonicSeconds(), std::memory_order_relaxed);
  *context = std::move(made);
  return Status::Ok();
}

TlsContext::~TlsContext() {
  MutexLock lock(mu_);
  SSL_CTX_free(ctx_);
}

Status TlsContext::Reload() {
  // A new context, swapped in whole: a reload that fails halfway leaves the old one serving.
  // Connections already open keep the context they were made from (OpenSSL counts references).
  SSL_CTX* fresh = nullptr;
  Status status = Build(config_, &fresh);
  if (!status.ok()) return status;
  {
    MutexLock lock(mu_);
    std::swap(ctx_, fresh);
  }
  SSL_CTX_free(fresh);
  last_refresh_.store(MonotonicSeconds(), std::memory_order_relaxed);
  return Status::Ok();
}

std::unique_ptr<TlsStream> TlsContext::NewStream(int fd, TlsMode mode) {
  SSL* ssl = nullptr;
  {
    MutexLock lock(mu_);
    ssl = SSL_new(ctx_);
  }
  if (ssl == nullptr) {
    ERR_clear_error();
    return nullptr;
  }
  SSL_set_fd(ssl, fd);
  if (mode == TlsMode::kNoPeer) SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
  if (mode == TlsMode::kPeer) {
    SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  SSL_set_accept_state(ssl);
  return std::make_unique<TlsStream>(ssl);
}

}  // namespace mnemo::net
