// Status reports the outcome of a slow-path operation (parsing flags, binding a socket, reading a
// file): ok, or a message that says what failed and why. The request path never uses it; each
// layer there returns its own result enum instead.
#pragma once

#include <string>
#include <utility>

namespace mnemo {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }

 private:
  explicit Status(std::string message) : failed_(true), message_(std::move(message)) {}

  bool failed_ = false;
  std::string message_;
};

}  // namespace mnemo
