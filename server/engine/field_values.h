// A row's typed field values, read from its JSON payload (docs/filter.md).
//
// A collection with declared fields takes payloads that are JSON objects;
// the value of each declared field is read from the member of the same
// name and checked against the field's type. Members that are not declared
// fields are kept in the payload and ignored here; a payload that is not
// JSON is accepted only when the collection declares no fields (opaque
// payloads keep working).
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "index/filter/filter_expr.h"

namespace qvdb {

// The values of `schema`'s fields in `payload`, one entry per field (empty
// when the member is absent or null). Errors name the field, the expected
// type and what was found, e.g. `field "year" is int64, got "2020" (a
// string)`.
absl::StatusOr<RowValues> ExtractFieldValues(const FieldSchema& schema,
                                             std::string_view payload);

}  // namespace qvdb
