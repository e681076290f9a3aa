// Small helpers for absl::Status propagation (after abseil's status_macros.h).
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define QVDB_CONCAT_INNER(a, b) a##b
#define QVDB_CONCAT(a, b) QVDB_CONCAT_INNER(a, b)

// RETURN_IF_ERROR(expr): returns the status of `expr` from the enclosing
// function when it is not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status qvdb_status_ = (expr);              \
    if (!qvdb_status_.ok()) return qvdb_status_;       \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates a StatusOr, returns its status on
// error, otherwise moves its value into `lhs` (which may be a declaration).
#define ASSIGN_OR_RETURN(lhs, expr) \
  QVDB_ASSIGN_OR_RETURN_IMPL(QVDB_CONCAT(qvdb_statusor_, __LINE__), lhs, expr)

#define QVDB_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                               \
  if (!statusor.ok()) return statusor.status();         \
  lhs = std::move(statusor).value()
