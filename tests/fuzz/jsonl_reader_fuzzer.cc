// Guards the JSON lines reader (client/jsonl_reader.h): any file gives rows
// or an error naming the line, never a crash.
#include "client/jsonl_reader.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = qvdb::fuzz::WriteTempFile(data, size, ".jsonl");
  qvdb::client::JsonlFields fields;
  auto source = qvdb::client::OpenJsonlSource(path, fields);
  if (!source.ok()) return 0;
  qvdb::client::VectorRecord record;
  for (int i = 0; i < 10000; ++i) {
    auto more = (*source)->Next(&record);
    if (!more.ok() || !*more) break;
    QVDB_FUZZ_CHECK(int(record.vector.size()) == (*source)->dim());
  }
  return 0;
}
