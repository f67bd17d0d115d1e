// CopyBudget: how much a retrieval may copy into a connection's output while the connection
// memory budget (net/memory_budget.h) is exhausted. Values sent from item memory cost nothing;
// a value copied or decoded into the output does, and waits (Dispatcher::Outcome::kNeedMemory)
// when the budget cannot take it.
#pragma once

#include <cstddef>

#include "net/io_buffer.h"
#include "net/memory_budget.h"

namespace mnemo::server {

// The connection memory a retrieval may copy into: while `budget` is exhausted, a connection's
// copied output may grow only up to `allowance` bytes. No budget: no limit.
struct CopyBudget {
  const net::MemoryBudget* budget = nullptr;
  size_t allowance = 0;

  // Whether `bytes` more may be copied into `copied` (a connection's copied output) now.
  bool Allows(const net::IoBuffer& copied, size_t bytes) const {
    return budget == nullptr || !budget->exhausted() || copied.size() + bytes <= allowance;
  }
};

}  // namespace mnemo::server
