#include "server/maintenance_commands.h"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "protocol/decimal.h"

namespace mnemo::server {
namespace {

constexpr std::string_view kOk = "OK\r\n";
constexpr std::string_view kError = "ERROR\r\n";
constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format\r\n";
constexpr std::string_view kBusy = "BUSY currently processing crawler request\r\n";
// memcached's MAX_NUMBER_OF_SLAB_CLASSES: class ids run from 0 (the global page pool) to 63.
constexpr int kClasses = 64;

// The command's tokens after its word, as memcached's tokenizer sees them (at most 22).
class Arguments {
 public:
  explicit Arguments(std::string_view text) {
    size_t pos = 0;
    while (count_ < kMax) {
      while (pos < text.size() && text[pos] == ' ') ++pos;
      if (pos == text.size()) break;
      size_t end = text.find(' ', pos);
      if (end == std::string_view::npos) end = text.size();
      words_[count_++] = text.substr(pos, end - pos);
      pos = end;
    }
  }
  // memcached's ntokens: the command word and these.
  size_t tokens() const { return count_ + 1; }
  // Token `i` of the line (1 is the first argument); empty past the end.
  std::string_view operator[](size_t i) const { return i - 1 < count_ ? words_[i - 1] : ""; }
  // memcached's strncmp(token, word, strlen(token)) == 0: the token is the start of `word`.
  bool Abbreviates(size_t i, std::string_view word) const { return word.starts_with((*this)[i]); }

 private:
  static constexpr size_t kMax = 22;
  std::string_view words_[kMax];
  size_t count_ = 0;
};

// memcached's safe_strtod on a token of at most 31 bytes.
bool ParseDouble(std::string_view token, double* out) {
  if (token.size() > 31) return false;
  const std::string text(token);
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (errno == ERANGE || end == text.c_str()) return false;
  if (*end != '\0' && *end != ' ' && (*end < '\t' || *end > '\r')) return false;
  *out = value;
  return true;
}

// memcached's safe_strtoul, for the class ids of a crawl.
bool ParseClass(std::string_view token, uint32_t* out) {
  return protocol::ParseDecimalU32(token, out);
}

// The classes of an lru_crawler crawl or dump.
struct ClassList {
  bool any = false;    // some class is named
  bool first = false;  // class 1, mnemo's one, is among them
};

// memcached's lru_crawler_crawl reading its classes: "all", "hash", or ids from 1 to 63 separated
// by commas (strtok skips empty pieces). False if an id is bad.
bool ParseClasses(std::string_view classes, ClassList* list) {
  if (classes == "all" || classes == "hash") {
    list->any = list->first = true;
    return true;
  }
  for (size_t pos = 0; pos <= classes.size();) {
    size_t end = classes.find(',', pos);
    if (end == std::string_view::npos) end = classes.size();
    const std::string_view id = classes.substr(pos, end - pos);
    uint32_t sid = 0;
    if (!id.empty()) {
      if (!ParseClass(id, &sid) || sid < 1 || sid >= kClasses) return false;
      list->any = true;
      if (sid == 1) list->first = true;
    }
    pos = end + 1;
  }
  return true;
}

}  // namespace

std::string MaintenanceCommands::Slabs(std::string_view arguments) const {
  const Arguments args(arguments);
  if (args.tokens() == 4 && args.Abbreviates(1, "reassign")) {
    if (!slab_reassign_) return "CLIENT_ERROR slab reassignment disabled\r\n";
    int32_t src = 0;
    int32_t dst = 0;
    if (!protocol::ParseTokenI32(args[2], &src) || !protocol::ParseTokenI32(args[3], &dst)) {
      return std::string(kBadFormat);
    }
    if (src == dst) return "SAME src and dst class are identical\r\n";
    // -1 asks memcached to pick a source with a spare page, and finding none it keeps -1.
    const auto valid = [](int32_t id) { return id >= 0 && id < kClasses; };
    if (!valid(src) || !valid(dst)) {
      return "BADCLASS invalid src or dst class id\r\n";
    }
    return "NOSPARE source class has no spare pages\r\n";
  }
  if (args.tokens() < 3 || !args.Abbreviates(1, "automove")) return std::string(kError);
  double ratio = 0;
  uint32_t level = 0;
  if (args.Abbreviates(2, "ratio") || args.Abbreviates(2, "freeratio")) {
    if (args.tokens() < 4 || !ParseDouble(args[3], &ratio)) return std::string(kError);
    return std::string(kOk);
  }
  if (args.Abbreviates(2, "window")) {
    if (args.tokens() < 4 || !protocol::ParseTokenU32(args[3], &level)) {
      return std::string(kBadFormat);
    }
    if (level < 3 || level > 1800) return "CLIENT_ERROR automove window too low or too high\r\n";
    return std::string(kOk);
  }
  if (!protocol::ParseTokenU32(args[2], &level)) return std::string(kBadFormat);
  return std::string(level <= 2 ? kOk : kError);
}

std::string MaintenanceCommands::LruCrawler(std::string_view arguments) {
  const Arguments args(arguments);
  if (args.tokens() == 3 && args.Abbreviates(1, "crawl")) {
    if (!crawler_running_.load(std::memory_order_relaxed)) {
      return "CLIENT_ERROR lru crawler disabled\r\n";
    }
    const std::string_view classes = args[2].substr(0, 511);
    ClassList list;
    if (!ParseClasses(classes, &list)) return "BADCLASS invalid class id\r\n";
    if (dumping_.load(std::memory_order_acquire)) return std::string(kBusy);
    // memcached walks its hash table for dumps only.
    if (classes == "hash") return "ERROR an unknown error happened\r\n";
    return list.any ? std::string(kOk) : "NOTSTARTED no items to crawl\r\n";
  }
  uint32_t number = 0;
  if (args.tokens() == 3 && args.Abbreviates(1, "tocrawl")) {
    return std::string(protocol::ParseTokenU32(args[2], &number) ? kOk : kBadFormat);
  }
  if (args.tokens() == 3 && args.Abbreviates(1, "sleep")) {
    if (!protocol::ParseTokenU32(args[2], &number)) return std::string(kBadFormat);
    if (number > 1000000) return "CLIENT_ERROR sleep must be one second or less\r\n";
    return std::string(kOk);
  }
  if (args.tokens() == 2 && args.Abbreviates(1, "enable")) {
    if (crawler_running_.exchange(true)) return "ERROR failed to start lru crawler thread\r\n";
    return std::string(kOk);
  }
  if (args.tokens() == 2 && args.Abbreviates(1, "disable")) {
    crawler_running_.store(false, std::memory_order_relaxed);  // memcached: OK even if stopped
    return std::string(kOk);
  }
  return std::string(kError);
}

bool MaintenanceCommands::ParseDump(std::string_view arguments, bool dump_enabled,
                                    bool output_pending, DumpKind* kind, bool* everything,
                                    std::string* refusal) {
  const Arguments args(arguments);
  if (args.tokens() != 3) return false;
  // memcached tries crawl first: "lru_crawler c all" is a crawl.
  if (args.Abbreviates(1, "crawl")) return false;
  std::string_view name;
  if (args.Abbreviates(1, "metadump")) {
    *kind = DumpKind::kMetadump;
    name = "metadump";
  } else if (args.Abbreviates(1, "mgdump")) {
    *kind = DumpKind::kMgdump;
    name = "mgdump";
  } else {
    return false;
  }
  refusal->clear();
  if (!crawler_running_.load(std::memory_order_relaxed)) {
    *refusal = "CLIENT_ERROR lru crawler disabled\r\n";
    return true;
  }
  if (!dump_enabled) {
    *refusal = *kind == DumpKind::kMetadump ? "ERROR metadump not allowed\r\n"
                                            : "ERROR key dump not allowed\r\n";
    return true;
  }
  if (output_pending) {
    *refusal = "ERROR cannot pipeline other commands before " + std::string(name) + "\r\n";
    return true;
  }
  ClassList list;
  if (!ParseClasses(args[2].substr(0, 511), &list)) {
    *refusal = "BADCLASS invalid class id\r\n";
    return true;
  }
  *everything = list.first;
  if (dumping_.exchange(true, std::memory_order_acq_rel)) {
    *refusal = std::string(kBusy);
    return true;
  }
  if (!list.any) {
    dumping_.store(false, std::memory_order_release);
    *refusal = "NOTSTARTED no items to crawl\r\n";
  }
  return true;
}

std::string MaintenanceCommands::Lru(std::string_view arguments) const {
  const Arguments args(arguments);
  if (args.tokens() >= 6 && args.Abbreviates(1, "tune")) {
    uint32_t pct_hot = 0;
    uint32_t pct_warm = 0;
    double hot_factor = 0;
    double factor = 0;
    if (!protocol::ParseTokenU32(args[2], &pct_hot) ||
        !protocol::ParseTokenU32(args[3], &pct_warm) || !ParseDouble(args[4], &hot_factor) ||
        !ParseDouble(args[5], &factor)) {
      return std::string(kError);
    }
    if (uint64_t{pct_hot} + pct_warm > 80) return "ERROR hot and warm pcts must not exceed 80\r\n";
    if (factor <= 0 || hot_factor <= 0) {
      return "ERROR hot/warm age factors must be greater than 0\r\n";
    }
    return std::string(kOk);
  }
  if (args.tokens() >= 3 && args.Abbreviates(1, "mode") && lru_maintainer_) {
    const bool known = args.Abbreviates(2, "flat") || args.Abbreviates(2, "segmented");
    return std::string(known ? kOk : kError);
  }
  if (args.tokens() >= 3 && args.Abbreviates(1, "temp_ttl") && lru_maintainer_) {
    int32_t ttl = 0;
    return std::string(protocol::ParseTokenI32(args[2], &ttl) ? kOk : kError);
  }
  return std::string(kError);
}

}  // namespace mnemo::server
