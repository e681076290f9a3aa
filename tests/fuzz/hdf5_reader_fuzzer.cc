// Guards the HDF5 reader (client/hdf5_reader.h): a damaged or foreign file
// gives rows of the dataset's dimension or an error, never a crash. The
// input is the file; the dataset read is "train", as in ann-benchmarks'
// files. libhdf5 runs in the reader's child process (not instrumented), so
// a fault there must come back as an error.
#include "client/hdf5_reader.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = qvdb::fuzz::WriteTempFile(data, size, ".hdf5");
  auto source = qvdb::client::OpenHdf5Source(path, "train");
  if (!source.ok()) return 0;
  qvdb::client::VectorRecord record;
  for (int i = 0; i < 10000; ++i) {
    auto more = (*source)->Next(&record);
    if (!more.ok() || !*more) break;
    QVDB_FUZZ_CHECK(int(record.vector.size()) == (*source)->dim());
  }
  return 0;
}
