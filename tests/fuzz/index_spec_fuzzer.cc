// Guards the index spec parser (index/codecs/index_spec.h): any text gives a
// spec or InvalidArgument, never a crash; a parsed spec's canonical form
// parses back to the same spec.
#include "index/codecs/index_spec.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = qvdb::fuzz::AsText(data, size);
  auto spec = qvdb::ParseIndexSpec(text);
  if (spec.ok()) {
    auto again = qvdb::ParseIndexSpec(spec->ToString());
    QVDB_FUZZ_CHECK(again.ok() && *again == *spec);
  }
  auto codec = qvdb::ParseCodecSpec(text);
  if (codec.ok()) {
    auto again = qvdb::ParseCodecSpec(codec->ToString());
    QVDB_FUZZ_CHECK(again.ok() && *again == *codec);
  }
  return 0;
}
