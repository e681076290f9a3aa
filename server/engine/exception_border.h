// Exceptions stop at the borders of threads and calls: a std::bad_alloc in
// a background training or a request handler must become an error value,
// never std::terminate (which takes the whole server down).
#pragma once

#include <fmt/format.h>

#include <exception>
#include <new>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace qvdb {

// fn() -> absl::Status, with any exception it throws turned into
// ResourceExhausted (out of memory) or Internal, naming `what`.
template <typename Fn>
absl::Status CatchExceptions(std::string_view what, Fn&& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(fmt::format(
        "{} ran out of memory; retry with a smaller request", what));
  } catch (const std::exception& e) {
    return absl::InternalError(
        fmt::format("{} failed with an exception: {}", what, e.what()));
  } catch (...) {
    return absl::InternalError(
        fmt::format("{} failed with an unknown exception", what));
  }
}

}  // namespace qvdb
