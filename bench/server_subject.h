// The `--server` path of `qvdb-bench sweep`: a qvdb spec measured through a
// running qvdb-server with the real client (client/client.h): a temporary
// collection is created, the base ingested (client/ingester.h), trained,
// searched with Search (one query) or SearchBatch, and dropped when the
// subject is destroyed.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "bench/sweep_subject.h"

namespace qvdb::bench {

// `collection` must not exist; it is dropped again by the subject.
absl::StatusOr<std::unique_ptr<SweepSubject>> MakeServerSubject(
    const std::string& server, const std::string& collection,
    const IndexSpec& spec, int dim, Metric metric);

}  // namespace qvdb::bench
