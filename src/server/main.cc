// mnemod: a drop-in replacement for memcached. Reads memcached's flags, sets up the process as
// memcached does, and runs the server until SIGINT, SIGTERM, SIGUSR1 or `shutdown`.
#include <sysexits.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "base/logging.h"
#include "base/status.h"
#include "net/tls_context.h"
#include "server/credentials.h"
#include "server/options.h"
#include "server/process.h"
#include "server/server.h"

namespace {

// What -i prints after the version line. memcached's -i prints memcached's and libevent's
// licenses; mnemod contains code of neither.
constexpr char kLicenseText[] =
    "mnemod has no license text built in; it contains no code of memcached or libevent, whose\n"
    "licenses memcached's -i prints.\n";

// -S and -Y: reads the files their clients are checked against, before any port is bound (as
// memcached reads its -Y file). Unlike memcached, which falls back on Cyrus SASL's own password
// store (sasldb) without $MEMCACHED_SASL_PWDB and reads that file at each attempt, mnemod has no
// other store: it refuses to start with SASL that nobody could pass.
mnemo::Status LoadCredentials(const mnemo::server::Options& options,
                              std::unique_ptr<mnemo::server::CredentialStore>* sasl,
                              std::unique_ptr<mnemo::server::CredentialStore>* ascii_auth) {
  using mnemo::server::Credentials;
  using mnemo::server::CredentialStore;
  if (options.sasl) {
    const char* pwdb = std::getenv("MEMCACHED_SASL_PWDB");
    if (pwdb == nullptr || *pwdb == '\0') {
      return mnemo::Status::Error(
          "ERROR: -S needs MEMCACHED_SASL_PWDB: the file of user:password lines that SASL "
          "checks");
    }
    *sasl = std::make_unique<CredentialStore>(Credentials::Format::kSaslPasswordDb, pwdb);
    mnemo::Status status = (*sasl)->Load();
    if (!status.ok()) return status;
    MNEMO_LOG(1, "Initialized SASL.\n");
  }
  if (!options.auth_file.empty()) {
    *ascii_auth =
        std::make_unique<CredentialStore>(Credentials::Format::kAsciiAuthFile, options.auth_file);
    mnemo::Status status = (*ascii_auth)->Load();
    if (!status.ok()) return status;
  }
  return mnemo::Status::Ok();
}

int Fail(int exit_code, const mnemo::Status& status) {
  std::fprintf(stderr, "%s\n", status.message().c_str());
  return exit_code;
}

}  // namespace

int main(int argc, char* argv[]) {
  using namespace mnemo::server;  // NOLINT(google-build-using-namespace): main only

  setvbuf(stderr, nullptr, _IONBF, 0);  // unbuffered, as memcached, for daemontools and the like
  Options options;
  CommandLineAction action = CommandLineAction::kRun;
  mnemo::Status status = ParseCommandLine(argc, argv, &options, &action);
  if (!status.ok()) return Fail(EX_USAGE, status);
  if (action == CommandLineAction::kPrintHelp) {
    std::fputs(UsageText().c_str(), stdout);
    return 0;
  }
  if (action == CommandLineAction::kPrintLicense) {
    std::printf("%s\n%s", VersionLine().c_str(), kLicenseText);
    return 0;
  }
  if (action == CommandLineAction::kPrintVersion) {
    std::printf("%s\n", VersionLine().c_str());
    return 0;
  }
  mnemo::g_verbosity.store(options.verbosity);

  if ((getuid() == 0 || geteuid() == 0) && options.user.empty()) {
    std::fprintf(stderr, "can't run as root without the -u switch\n");
    return EX_USAGE;
  }
  if (options.core_dumps) {
    status = EnableCoreDumps();
    if (!status.ok()) return Fail(EX_OSERR, status);
  }
  status = RaiseFileLimit(options.max_connections);
  if (!status.ok()) return Fail(EX_OSERR, status);

  // TCP ports are bound before dropping privileges (ports below 1024) and before daemonizing (so
  // that a port in use is reported to the shell that started us). A unix socket is bound after
  // dropping them, as memcached does, so that its file belongs to the -u user.
  const bool unix_socket = !options.socket_path.empty();
  if (unix_socket) {
    status = DropPrivileges(options.user);
    if (!status.ok()) return Fail(EX_OSERR, status);
  }
  // memcached loads the TLS certificates before it binds a port, and exits with EX_USAGE.
  std::unique_ptr<mnemo::net::TlsContext> tls;
  if (options.ssl_enabled) {
    status = mnemo::net::TlsContext::Create(options.tls, &tls);
    if (!status.ok()) return Fail(EX_USAGE, status);
  }
  std::unique_ptr<CredentialStore> sasl;
  std::unique_ptr<CredentialStore> ascii_auth;
  status = LoadCredentials(options, &sasl, &ascii_auth);
  if (!status.ok()) return Fail(EXIT_FAILURE, status);
  std::unique_ptr<Server> server;
  status = Server::Create(options, &server);
  if (!status.ok()) return Fail(EX_OSERR, status);
  if (!unix_socket) {
    status = DropPrivileges(options.user);
    if (!status.ok()) return Fail(EX_OSERR, status);
  }
  if (tls != nullptr) server->SetTls(std::move(tls));
  server->SetCredentials(std::move(sasl), std::move(ascii_auth));
  status = server->OpenFlash();
  if (!status.ok()) return Fail(EXIT_FAILURE, status);
  if (options.daemonize) {
    status = Daemonize(/*keep_stderr=*/options.verbosity > 0,
                       /*keep_directory=*/options.core_dumps);
    if (!status.ok()) return Fail(EX_OSERR, status);
  }
  if (options.lock_memory) LockMemory();
  const bool wrote_pid_file = !options.pid_file.empty() && WritePidFile(options.pid_file);

  status = server->Run();
  server.reset();
  if (wrote_pid_file) RemovePidFile(options.pid_file);
  if (!status.ok()) return Fail(EXIT_FAILURE, status);
  return 0;
}
