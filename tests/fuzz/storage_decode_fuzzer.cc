// Guards storage's key and value decoding (storage/keys.h,
// storage/user_id.h, storage/collection_record.h): whatever bytes a damaged
// database holds give a value or DataLoss, never a crash; a decoded value
// encodes back to the same bytes. The first byte picks the decoder.
#include "storage/collection_record.h"
#include "storage/keys.h"
#include "storage/user_id.h"
#include "tests/fuzz/fuzz_util.h"

namespace si = qvdb::storage_internal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view in = qvdb::fuzz::AsText(data + 1, size - 1);
  switch (data[0] % 7) {
    case 0:
      if (auto r = qvdb::DecodeCollectionRecord(in); r.ok()) {
        QVDB_FUZZ_CHECK(qvdb::EncodeCollectionRecord(*r) == in);
      }
      break;
    case 1:
      if (auto id = qvdb::DecodeUserId(in); id.ok()) {
        QVDB_FUZZ_CHECK(qvdb::EncodeUserId(*id) == in);
      }
      break;
    case 2:
      if (auto k = si::ParseCodeKey(in); k.ok()) {
        QVDB_FUZZ_CHECK(si::CodeKey(k->cid, k->version, k->list, k->iid) == in);
      }
      break;
    case 3:
      (void)si::ParseRowDataKey(in);
      break;
    case 4:
      if (auto c = si::DecodeCounters(in); c.ok()) {
        QVDB_FUZZ_CHECK(si::EncodeCounters(*c) == in);
      }
      break;
    case 5:
      if (auto v = si::DecodeU64(in, "fuzz"); v.ok()) {
        QVDB_FUZZ_CHECK(si::EncodeU64(*v) == in);
      }
      break;
    case 6:
      if (auto v = si::DecodeU32(in, "fuzz"); v.ok()) {
        QVDB_FUZZ_CHECK(si::EncodeU32(*v) == in);
      }
      break;
  }
  return 0;
}
