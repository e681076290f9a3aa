// Reader for HDF5 files such as ann-benchmarks' (datasets "train", "test",
// "neighbors", "distances"): one 2-D numeric dataset (rows x dim), read in
// slabs of 1024 rows and converted to float32 by HDF5 itself.
//
// libhdf5 is not hardened against damaged files: some make it read through
// a null pointer (found by the fuzzer, tests/fuzz/corpus/hdf5_reader/).
// So it runs in a child process (fork) that streams the rows through a
// pipe, and a child that dies becomes a DataLoss error naming the file;
// the calling process never runs libhdf5.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "client/vector_source.h"

namespace qvdb::client {

// NotFound for a missing file or dataset (the message lists the datasets
// the file holds); InvalidArgument for a dataset that is not 2-D numeric;
// DataLoss when libhdf5 fails or crashes on the file.
absl::StatusOr<std::unique_ptr<VectorSource>> OpenHdf5Source(
    const std::string& path, const std::string& dataset);

}  // namespace qvdb::client
