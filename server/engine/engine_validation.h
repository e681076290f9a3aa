// PRIVATE header of server/: the checks every request passes before
// anything is written or searched. Each error is InvalidArgument naming the
// collection, the offending row or id, and what to do.
#pragma once

#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "server/engine/engine_options.h"
#include "server/engine/engine_types.h"
#include "storage/user_id.h"

namespace qvdb {

// 1 to max_batch_rows rows; each id valid and named once; each vector of
// `dim` finite floats; payloads and the batch within their byte limits.
absl::Status ValidateUpsertBatch(std::string_view collection, uint32_t dim,
                                 std::span<const UpsertRow> rows,
                                 const EngineOptions& options);

// 1 to max_batch_rows ids, each valid and, when `unique` (deletes), named
// once. `what`: "delete" or "get", for messages.
absl::Status ValidateIdBatch(std::string_view collection, std::string_view what,
                             std::span<const UserId> ids, bool unique,
                             const EngineOptions& options);

// queries: 1 to max_batch_rows rows of `dim` finite floats; k, nprobe and
// refine_factor in range; filter ids valid.
absl::Status ValidateSearch(std::string_view collection, uint32_t dim,
                            std::span<const float> queries,
                            const SearchOptions& search,
                            const EngineOptions& options);

}  // namespace qvdb
