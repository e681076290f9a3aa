// Guards IvfIndex::LoadModel (index/ivf/ivf_index.h): a stored index model
// (PCA, centroids, codecs, refine codecs) that is damaged or belongs to
// another spec or dimension is refused with an error; one that loads adds
// and searches vectors without reading out of bounds. The first byte picks
// the index (kIvfFuzzSpecs), the rest is the model.
#include <vector>

#include "index/codecs/index_spec.h"
#include "index/vector_index.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using qvdb::fuzz::kIvfFuzzDim;
  using qvdb::fuzz::kIvfFuzzSpecs;
  if (size < 1) return 0;
  constexpr size_t kSpecs = std::size(kIvfFuzzSpecs);
  const size_t pick = data[0] % (2 * kSpecs);
  const auto metric = pick < kSpecs ? qvdb::Metric::kL2 : qvdb::Metric::kCosine;
  auto spec = qvdb::ParseIndexSpec(kIvfFuzzSpecs[pick % kSpecs]);
  QVDB_FUZZ_CHECK(spec.ok());
  auto index = qvdb::CreateVectorIndex(*spec, kIvfFuzzDim, metric);
  QVDB_FUZZ_CHECK(index.ok());
  if (!(*index)->LoadModel(qvdb::fuzz::AsText(data + 1, size - 1)).ok()) {
    return 0;
  }
  if (!(*index)->is_trained()) return 0;
  std::vector<float> rows(3 * kIvfFuzzDim);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = float(i % 7) - 3.0f;
  const int64_t ids[] = {1, 5, 9};
  if (!(*index)->Add(ids, rows.data(), 3).ok()) return 0;
  qvdb::SearchParams params;
  params.k = 2;
  params.num_threads = 1;
  auto results = (*index)->Search(rows.data(), 1, params);
  (void)results;
  return 0;
}
