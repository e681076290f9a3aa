// A row's typed field values, read from its JSON payload (docs/filter.md).
//
// A collection with declared fields takes payloads that are JSON objects;
// the value of each declared field is read from the member of the same
// name and checked against the field's type. Members that are not declared
// fields are kept in the payload and ignored here; a payload that is not
// JSON is accepted only when the collection declares no fields (opaque
// payloads keep working).
#pragma once

#include <cstddef>
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

// The backfill's reading of a stored row (fields added to a collection with
// rows): only fields first_field and later are read; a member of the wrong
// type leaves its field empty and adds one to *wrong_type. InvalidArgument
// only when the payload is not a JSON object.
absl::StatusOr<RowValues> ExtractFieldValuesLenient(const FieldSchema& schema,
                                                    std::string_view payload,
                                                    size_t first_field,
                                                    size_t* wrong_type);

}  // namespace qvdb
