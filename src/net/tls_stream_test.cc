// TlsContext and a TLS Connection against an OpenSSL client over a socket pair, with certificates
// the test makes with the openssl command.
#include "net/tls_stream.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "net/buffer_pool.h"
#include "net/connection.h"
#include "net/tls_context.h"

namespace mnemo::net {
namespace {

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    signal(SIGPIPE, SIG_IGN);  // as mnemod: OpenSSL writes the socket with write()
    char pattern[] = "/tmp/mnemo-tls-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    cert_dir = pattern;
    // A CA; a server certificate (CN server) and a client one signed by it; a second server
    // certificate (CN renewed); an expired one; a key that matches none.
    const std::string script =
        "(cd " + cert_dir +
        " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2"
        " -subj /CN=ca"
        " && for n in server renewed client; do"
        "   openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj /CN=$n &&"
        "   openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $n.crt"
        "   -days 2 || exit 1; done"
        " && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -out expired.crt -days -1"
        " && openssl genpkey -algorithm RSA -out other.key"
        ") > /dev/null 2>&1";
    ASSERT_EQ(std::system(script.c_str()), 0);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(cert_dir); }

  static std::string Path(const std::string& name) { return cert_dir + "/" + name; }
  static TlsConfig Config(const std::string& cert = "server.crt",
                          const std::string& key = "server.key") {
    TlsConfig config;
    config.chain_cert = Path(cert);
    config.key = Path(key);
    return config;
  }

  // A connected pair: fds_[0] is the server's (non-blocking), fds_[1] the client's.
  void SetUp() override {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0);
    fcntl(fds_[0], F_SETFL, O_NONBLOCK);
    fcntl(fds_[1], F_SETFL, O_NONBLOCK);
  }
  void TearDown() override {
    if (client_ != nullptr) SSL_free(client_);
    if (client_ctx_ != nullptr) SSL_CTX_free(client_ctx_);
    close(fds_[1]);  // fds_[0] belongs to the Connection
  }

  void MakeServer(const TlsConfig& config) {
    ASSERT_TRUE(TlsContext::Create(config, &context_).ok());
    conn_ = std::make_unique<Connection>(fds_[0], pool_);
    conn_->SetTls(context_->NewStream(fds_[0]), write_buffer_);
  }
  // An OpenSSL client on fds_[1]; with `with_cert`, it presents client.crt.
  void MakeClient(bool with_cert) {
    client_ctx_ = SSL_CTX_new(TLS_client_method());
    if (with_cert) {
      ASSERT_EQ(
          SSL_CTX_use_certificate_file(client_ctx_, Path("client.crt").c_str(), SSL_FILETYPE_PEM),
          1);
      ASSERT_EQ(
          SSL_CTX_use_PrivateKey_file(client_ctx_, Path("client.key").c_str(), SSL_FILETYPE_PEM),
          1);
    }
    client_ = SSL_new(client_ctx_);
    SSL_set_fd(client_, fds_[1]);
    SSL_set_connect_state(client_);
  }

  // Runs the client's handshake and the server's reads, in turn, until the server has `want`
  // bytes of input or a read fails. Returns the last read's status.
  Connection::ReadStatus Pump(size_t want) {
    Connection::ReadStatus status = Connection::ReadStatus::kDrained;
    for (int i = 0; i < 50 && conn_->input().size() < want; ++i) {
      ERR_clear_error();
      (void)SSL_do_handshake(client_);
      uint64_t bytes = 0;
      status = conn_->Read(&bytes);
      if (status == Connection::ReadStatus::kError || status == Connection::ReadStatus::kEof) {
        break;
      }
    }
    return status;
  }
  // Runs both sides until the client's handshake is done.
  void Handshake() {
    for (int i = 0; i < 50 && SSL_is_init_finished(client_) == 0; ++i) {
      ERR_clear_error();
      (void)SSL_do_handshake(client_);
      uint64_t bytes = 0;
      (void)conn_->Read(&bytes);
    }
    ASSERT_NE(SSL_is_init_finished(client_), 0);
  }
  // What the client reads, waiting for up to `size` bytes.
  std::string ClientRead(size_t size) {
    std::string got;
    for (int i = 0; i < 50 && got.size() < size; ++i) {
      char buffer[4096];
      const int n = SSL_read(client_, buffer, sizeof(buffer));
      if (n > 0) got.append(buffer, static_cast<size_t>(n));
      uint64_t bytes = 0;
      (void)conn_->Read(&bytes);  // lets the server finish its side (session tickets)
    }
    return got;
  }

  static std::string cert_dir;
  int fds_[2] = {-1, -1};
  BufferPool pool_;
  std::vector<char> write_buffer_ = std::vector<char>(16 << 10);
  std::unique_ptr<TlsContext> context_;
  std::unique_ptr<Connection> conn_;
  SSL_CTX* client_ctx_ = nullptr;
  SSL* client_ = nullptr;
};

std::string TlsTest::cert_dir;

TEST_F(TlsTest, CreateSaysWhatIsWrongInMemcachedsWords) {
  std::unique_ptr<TlsContext> context;
  Status status = TlsContext::Create(Config("missing.crt"), &context);
  EXPECT_EQ(status.message().rfind(
                "Error loading the certificate chain: " + Path("missing.crt") + " : ", 0),
            0u)
      << status.message();
  TlsConfig no_cert;
  status = TlsContext::Create(no_cert, &context);
  EXPECT_EQ(status.message().rfind("Error loading the certificate chain: (null) : ", 0), 0u);
  status = TlsContext::Create(Config("server.crt", "missing.key"), &context);
  EXPECT_EQ(status.message().rfind("Error loading the key: " + Path("missing.key") + " : ", 0), 0u);
  status = TlsContext::Create(Config("server.crt", "other.key"), &context);
  EXPECT_NE(status.message().find("key values mismatch"), std::string::npos) << status.message();
  status = TlsContext::Create(Config("expired.crt"), &context);
  EXPECT_EQ(status.message().rfind("Error validating the certificate: " + Path("expired.crt") +
                                       " : certificate has expired (notAfter=",
                                   0),
            0u)
      << status.message();
  TlsConfig bad_ciphers = Config();
  bad_ciphers.ciphers = "BOGUS";
  status = TlsContext::Create(bad_ciphers, &context);
  EXPECT_EQ(status.message(), "Error setting the provided cipher(s): BOGUS");
  TlsConfig bad_ca = Config();
  bad_ca.ca_cert = Path("missing-ca.crt");
  status = TlsContext::Create(bad_ca, &context);
  EXPECT_EQ(
      status.message().rfind("Error loading the CA certificate: " + Path("missing-ca.crt"), 0), 0u);
  EXPECT_EQ(context, nullptr);
  EXPECT_TRUE(TlsContext::Create(Config(), &context).ok());
}

TEST_F(TlsTest, VerifyModesAndVersionsMapAsMemcachedMapsThem) {
  TlsConfig config;
  EXPECT_TRUE(config.SetVerifyMode(0));
  EXPECT_EQ(config.verify_mode, SSL_VERIFY_NONE);
  EXPECT_TRUE(config.SetVerifyMode(2));
  EXPECT_EQ(config.verify_mode, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
  EXPECT_TRUE(config.SetVerifyMode(3));
  EXPECT_EQ(config.verify_mode, 7);
  EXPECT_FALSE(config.SetVerifyMode(4));
  EXPECT_TRUE(config.SetMinVersion(3));
  EXPECT_STREQ(TlsVersionName(config.min_version), "tlsv1.3");
  EXPECT_FALSE(config.SetMinVersion(4));
  EXPECT_STREQ(TlsVersionName(TlsConfig().min_version), "tlsv1.2");
}

TEST_F(TlsTest, ReadsAndSendsThroughTheStream) {
  MakeServer(Config());
  MakeClient(false);
  EXPECT_NE(Pump(1), Connection::ReadStatus::kError);  // the handshake, inside the reads
  ASSERT_EQ(SSL_write(client_, "get k\r\n", 7), 7);
  Pump(7);
  EXPECT_EQ(conn_->input().readable(), "get k\r\n");
  EXPECT_TRUE(conn_->tls()->handshake_done());

  // More than one write buffer of output, copied bytes and a view, in order.
  const std::string big(40000, 'v');
  conn_->output().Append("VALUE k 0 40000\r\n");
  const std::string_view pieces[] = {big};
  bool released = false;
  conn_->AppendExternal(
      pieces,
      OutputPin{[](void* owner, uint64_t) { *static_cast<bool*>(owner) = true; }, &released, 0});
  conn_->output().Append("\r\nEND\r\n");
  const std::string expected = "VALUE k 0 40000\r\n" + big + "\r\nEND\r\n";
  std::string got;
  for (int i = 0; i < 100 && got.size() < expected.size(); ++i) {
    uint64_t bytes = 0;
    uint64_t external = 0;
    const Connection::FlushStatus status = conn_->Flush(&bytes, &external);
    ASSERT_NE(status, Connection::FlushStatus::kError);
    got += ClientRead(expected.size() - got.size());
  }
  EXPECT_EQ(got, expected);
  EXPECT_TRUE(released);
  EXPECT_TRUE(conn_->output_empty());
}

TEST_F(TlsTest, GarbageIsAHandshakeError) {
  MakeServer(Config());
  ASSERT_EQ(write(fds_[1], "get k\r\n", 7), 7);  // plain text to a TLS port
  uint64_t bytes = 0;
  EXPECT_EQ(conn_->Read(&bytes), Connection::ReadStatus::kError);
  EXPECT_EQ(conn_->tls_failure(), TlsStream::Result::kHandshakeError);
  EXPECT_EQ(bytes, 0u);
}

TEST_F(TlsTest, ABrokenRecordAfterTheHandshakeIsAProtocolError) {
  MakeServer(Config());
  MakeClient(false);
  Handshake();
  ASSERT_EQ(SSL_write(client_, "get k\r\n", 7), 7);
  Pump(7);
  // An application-data record header, then bytes no key decrypts.
  const std::string record = std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, 'g');
  ASSERT_EQ(write(fds_[1], record.data(), record.size()), static_cast<ssize_t>(record.size()));
  uint64_t bytes = 0;
  EXPECT_EQ(conn_->Read(&bytes), Connection::ReadStatus::kError);
  EXPECT_EQ(conn_->tls_failure(), TlsStream::Result::kProtocolError);
}

TEST_F(TlsTest, RequiredClientCertificate) {
  TlsConfig config = Config();
  config.ca_cert = Path("ca.crt");
  ASSERT_TRUE(config.SetVerifyMode(2));
  MakeServer(config);
  MakeClient(false);
  EXPECT_EQ(Pump(1), Connection::ReadStatus::kError);
  EXPECT_EQ(conn_->tls_failure(), TlsStream::Result::kHandshakeError);
}

TEST_F(TlsTest, AcceptedClientCertificate) {
  TlsConfig config = Config();
  config.ca_cert = Path("ca.crt");
  ASSERT_TRUE(config.SetVerifyMode(2));
  MakeServer(config);
  MakeClient(true);
  Handshake();
  ASSERT_EQ(SSL_write(client_, "version\r\n", 9), 9);
  EXPECT_NE(Pump(9), Connection::ReadStatus::kError);
  EXPECT_EQ(conn_->input().readable(), "version\r\n");
}

TEST_F(TlsTest, ReloadSwapsTheCertificateForNewStreams) {
  const std::string live_cert = Path("live.crt");
  const std::string live_key = Path("live.key");
  std::filesystem::copy_file(Path("server.crt"), live_cert,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(Path("server.key"), live_key,
                             std::filesystem::copy_options::overwrite_existing);
  TlsConfig config;
  config.chain_cert = live_cert;
  config.key = live_key;
  MakeServer(config);
  // A reload that fails (a key for another certificate) keeps the old certificate.
  std::filesystem::copy_file(Path("other.key"), live_key,
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_FALSE(context_->Reload().ok());
  std::filesystem::copy_file(Path("renewed.crt"), live_cert,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(Path("renewed.key"), live_key,
                             std::filesystem::copy_options::overwrite_existing);
  ASSERT_TRUE(context_->Reload().ok());
  // conn_ was made before the reload: a new stream presents the new certificate.
  conn_ = std::make_unique<Connection>(dup(fds_[0]), pool_);
  conn_->SetTls(context_->NewStream(conn_->fd()), write_buffer_);
  MakeClient(false);
  Handshake();
  X509* peer = SSL_get1_peer_certificate(client_);
  ASSERT_NE(peer, nullptr);
  char name[256] = {};
  X509_NAME_oneline(X509_get_subject_name(peer), name, sizeof(name));
  X509_free(peer);
  EXPECT_STREQ(name, "/CN=renewed");
}

}  // namespace
}  // namespace mnemo::net
