// Reader for JSON lines: one JSON object per line, e.g.
//   {"id": "doc-7", "vector": [0.1, 0.2, ...], "payload": {"text": "..."}}
// Field names are configurable (JsonlFields in vector_source.h). Blank lines
// are skipped. The dimension is the first row's; a row of another dimension,
// a missing or non-numeric vector, a negative or fractional numeric id, or
// a line that is not JSON is an error naming the line.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "client/vector_source.h"

namespace qvdb::client {

absl::StatusOr<std::unique_ptr<VectorSource>> OpenJsonlSource(
    const std::string& path, const JsonlFields& fields);

}  // namespace qvdb::client
