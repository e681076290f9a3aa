// Guards the .npy reader (client/npy_reader.h): any header gives a parsed
// header or InvalidArgument, and any file gives rows of the header's
// dimension or an error, never a crash or an over-read.
#include "client/npy_reader.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)qvdb::client::ParseNpyHeader(qvdb::fuzz::AsText(data, size));
  const std::string path = qvdb::fuzz::WriteTempFile(data, size, ".npy");
  auto source = qvdb::client::OpenNpySource(path);
  if (!source.ok()) return 0;
  qvdb::client::VectorRecord record;
  for (int i = 0; i < 10000; ++i) {
    auto more = (*source)->Next(&record);
    if (!more.ok() || !*more) break;
    QVDB_FUZZ_CHECK(int(record.vector.size()) == (*source)->dim());
  }
  return 0;
}
