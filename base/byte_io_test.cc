#include "base/byte_io.h"

#include <gtest/gtest.h>

namespace qvdb {
namespace {

// Regression (found by tests/fuzz/ivf_model_fuzzer under UBSan): reading an
// empty array passed the empty vector's null data() to memcpy, which is
// undefined behaviour even for 0 bytes. The sanitizer build fails here.
TEST(ByteIoTest, EmptyArrayReadsWithoutMemcpyToNull) {
  ByteWriter w;
  w.PutArray(std::vector<float>{});
  w.Put<uint32_t>(7);
  ByteReader r(w.bytes());
  std::vector<float> v;
  ASSERT_TRUE(r.GetArray(&v).ok());
  EXPECT_TRUE(v.empty());
  uint32_t after = 0;
  ASSERT_TRUE(r.Get(&after).ok());
  EXPECT_EQ(after, 7u);
}

TEST(ByteIoTest, TruncatedArrayIsDataLoss) {
  ByteWriter w;
  w.Put<uint64_t>(1000);  // claims 1000 floats, holds none
  ByteReader r(w.bytes());
  std::vector<float> v;
  EXPECT_EQ(r.GetArray(&v).code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace qvdb
