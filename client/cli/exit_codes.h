// Exit codes of the qvdb CLI, stable so that scripts can branch on them
// (docs/api.md lists them too).
#pragma once

#include "absl/status/status.h"

namespace qvdb::client {

enum ExitCode : int {
  kExitOk = 0,
  // Anything not listed below (INTERNAL, DATA_LOSS, UNKNOWN, ...).
  kExitError = 1,
  // Bad command line: unknown command or option, missing or malformed
  // argument. Nothing was sent.
  kExitUsage = 2,
  // NOT_FOUND: unknown collection, snapshot, or input file.
  kExitNotFound = 3,
  // ALREADY_EXISTS: the collection or snapshot exists.
  kExitAlreadyExists = 4,
  // INVALID_ARGUMENT / OUT_OF_RANGE / RESOURCE_EXHAUSTED: the server (or the
  // input file) rejected the data; fix the input.
  kExitInvalid = 5,
  // UNAVAILABLE / DEADLINE_EXCEEDED / CANCELLED / ABORTED: the server could
  // not be reached or did not answer in time, after the retries. Retrying
  // later may succeed.
  kExitUnavailable = 6,
  // FAILED_PRECONDITION: valid, but not in the collection's current state
  // (e.g. too few rows to train).
  kExitFailedPrecondition = 7,
  // UNAUTHENTICATED / PERMISSION_DENIED: no key, a wrong key, or a
  // read-only key for an admin command; give --api-key (or QVDB_API_KEY).
  kExitUnauthorized = 8,
};

inline int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kAlreadyExists:
      return kExitAlreadyExists;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kResourceExhausted:
      return kExitInvalid;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kAborted:
      return kExitUnavailable;
    case absl::StatusCode::kFailedPrecondition:
      return kExitFailedPrecondition;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return kExitUnauthorized;
    default:
      return kExitError;
  }
}

}  // namespace qvdb::client
