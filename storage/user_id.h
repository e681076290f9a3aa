// User-facing ids of stored vectors: an unsigned 64-bit integer or a string.
//
// The two kinds are distinct: UserId(uint64_t{5}) and UserId(std::string("5"))
// name different rows. Strings are 1 to kMaxUserIdBytes arbitrary bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qvdb {

using UserId = std::variant<uint64_t, std::string>;

inline constexpr size_t kMaxUserIdBytes = 1024;

// InvalidArgument for an empty or too long string id.
absl::Status ValidateUserId(const UserId& id);

// For messages: 42 or "doc-7" (quoted, truncated to 64 bytes).
std::string UserIdDebugString(const UserId& id);

// Stable, order-preserving tagged bytes: 0x01 + 8 big-endian bytes for an
// integer, 0x02 + the raw bytes for a string (docs/storage.md).
std::string EncodeUserId(const UserId& id);
// Inverse of EncodeUserId; DataLoss on an unknown tag or a bad length.
absl::StatusOr<UserId> DecodeUserId(std::string_view bytes);

}  // namespace qvdb
