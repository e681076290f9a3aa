// Reader for HDF5 files such as ann-benchmarks' (datasets "train", "test",
// "neighbors", "distances"): one 2-D numeric dataset (rows x dim), read in
// slabs of 1024 rows and converted to float32 by HDF5 itself.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "client/vector_source.h"

namespace qvdb::client {

// NotFound for a missing file or dataset (the message lists the datasets
// the file holds); InvalidArgument for a dataset that is not 2-D numeric.
absl::StatusOr<std::unique_ptr<VectorSource>> OpenHdf5Source(
    const std::string& path, const std::string& dataset);

}  // namespace qvdb::client
