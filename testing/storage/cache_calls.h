// The classic memcached operations as one call each, for tests, fuzzers and benchmarks that drive
// a storage::Cache directly: each builds the request of Cache's one interface (cache.h) and unpacks
// its outcome. The server builds its requests itself; nothing that ships uses this header.
#pragma once

#include <cstdint>
#include <string_view>

#include "storage/cache.h"

namespace mnemo::cache_calls {

using storage::Cache;

// set, add, replace, append, prepend, cas. On kStored, *new_cas (if not null) gets the new CAS.
inline storage::StoreResult Store(Cache& cache, Cache::Context& ctx, storage::StoreMode mode,
                                  std::string_view key, uint32_t flags, storage::Exptime exptime,
                                  std::string_view value, uint64_t cas = 0,
                                  uint64_t* new_cas = nullptr) {
  storage::WriteRequest request;
  request.mode = mode;
  request.key = key;
  request.value = value;
  if (mode == storage::StoreMode::kCas) request.cas = cas;
  // append and prepend keep the item's flags and exptime.
  if (mode != storage::StoreMode::kAppend && mode != storage::StoreMode::kPrepend) {
    request.flags = flags;
    request.exptime = exptime;
  }
  storage::WriteOutcome outcome;
  const storage::StoreResult result = cache.Store(ctx, request, &outcome);
  if (new_cas != nullptr && result == storage::StoreResult::kStored) *new_cas = outcome.cas;
  return result;
}

// get: the recache race is the meta protocol's; a plain get takes no part in it.
inline storage::LookupResult Get(Cache& cache, Cache::Context& ctx, std::string_view key,
                                 storage::ItemSink& sink) {
  storage::ReadOptions options;
  options.can_win = false;
  return cache.Get(ctx, key, options, sink);
}

// gat: the item gets `exptime` and keeps its CAS; a gat takes no part in the recache race.
inline storage::LookupResult GetAndTouch(Cache& cache, Cache::Context& ctx, std::string_view key,
                                         storage::Exptime exptime, storage::ItemSink& sink) {
  storage::ReadOptions options;
  options.touch = true;
  options.touch_exptime = exptime;
  options.can_win = false;
  return cache.Get(ctx, key, options, sink);
}

// With cas != 0, deletes only if the item's CAS matches.
inline storage::DeleteResult Delete(Cache& cache, Cache::Context& ctx, std::string_view key,
                                    uint64_t cas = 0) {
  storage::DeleteRequest request;
  request.key = key;
  if (cas != 0) request.cas = cas;
  return cache.Delete(ctx, request);
}

// incr/decr. On kOk, *result gets the new value and *new_cas (if not null) its CAS.
inline storage::ArithResult Arithmetic(Cache& cache, Cache::Context& ctx, std::string_view key,
                                       bool increment, uint64_t delta, uint64_t* result,
                                       uint64_t* new_cas = nullptr) {
  storage::ArithRequest request;
  request.key = key;
  request.increment = increment;
  request.delta = delta;
  storage::ArithOutcome outcome;
  const storage::ArithResult status = cache.Arithmetic(ctx, request, &outcome);
  if (status == storage::ArithResult::kOk) {
    *result = outcome.value;
    if (new_cas != nullptr) *new_cas = outcome.cas;
  }
  return status;
}

}  // namespace mnemo::cache_calls
