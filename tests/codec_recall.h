// Trains a codec on a dataset's base vectors, encodes them, runs exact flat
// search over the codes and returns recall@k against the dataset's truth.
#pragma once

#include "absl/status/statusor.h"
#include "index/codec.h"
#include "tests/test_data.h"

namespace qvdb::testing {

absl::StatusOr<double> CodecRecall(Codec& codec, const Dataset& ds, int k);

}  // namespace qvdb::testing
