// Field values as storage's posting keys (docs/storage.md, "Field
// postings"): the byte form of one value of a field, ordered like the
// values where the type is ordered, and its decoding.
//
// Storage keeps, per field, one key per (value, row) and knows neither the
// schema nor the types (storage/README.md); this file is the one place that
// turns typed values into those opaque bytes and back:
// - keyword, keyword_list (one posting per distinct tag): a u32 big-endian
//   length, then the bytes. Not ordered as strings, but a value's postings
//   are one contiguous key range (no value's bytes are a prefix of
//   another's), which is all an equality index needs;
// - bool: one byte, 0 or 1;
// - int64, timestamp: 8 bytes big-endian with the sign bit flipped, so byte
//   order is numeric order (INT64_MIN is all zeros);
// - double: 8 bytes big-endian of the IEEE bits, with every bit flipped for
//   a negative number and only the sign bit for a positive one, so byte
//   order is numeric order; -0.0 is written as 0.0 (they compare equal);
//   NaN has no place in the order and is refused.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/filter/filter_expr.h"

namespace qvdb {

// The posting bytes of `value` in a field of `type`. InvalidArgument when
// the value's alternative does not fit the type, or for NaN.
absl::StatusOr<std::string> EncodePostingValue(FieldType type,
                                               const FieldValue& value);

// The value of posting bytes written by EncodePostingValue for `type`.
// DataLoss for bytes that no value of the type encodes to.
absl::StatusOr<FieldValue> DecodePostingValue(FieldType type,
                                              std::string_view bytes);

// Calls fn(field number, posting bytes) for each posting of a row holding
// `values` (RowValues of `schema`), for fields first_field and later: one
// per value, one per distinct tag of a keyword list, none for an absent
// field. Errors from encoding or from fn stop the walk.
absl::Status ForEachPosting(
    const FieldSchema& schema, const RowValues& values, size_t first_field,
    absl::FunctionRef<absl::Status(size_t, std::string)> fn);

}  // namespace qvdb
