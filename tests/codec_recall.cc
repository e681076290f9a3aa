#include "tests/codec_recall.h"

#include "index/search/flat_search.h"
#include "index/search/ground_truth.h"
#include "base/status_macros.h"

namespace qvdb::testing {

absl::StatusOr<double> CodecRecall(Codec& codec, const Dataset& ds, int k) {
  std::vector<float> base = ds.base.data;
  if (ds.metric == Metric::kCosine) {
    NormalizeRows(base.data(), ds.base.rows, ds.base.cols);
    // As an index scores them (ivf_index.h, UnitVectorsInWorkSpace); a
    // PCA codec does not pass it on.
    codec.AssumeUnitVectors();
  }
  RETURN_IF_ERROR(codec.Train(base.data(), ds.base.rows));
  std::vector<uint8_t> codes(ds.base.rows * codec.code_size());
  RETURN_IF_ERROR(codec.Encode(base.data(), ds.base.rows, codes.data()));
  SearchResults r = FlatSearch(codec, codes.data(), ds.base.rows,
                               ds.queries.data.data(), ds.queries.rows, k,
                               ds.metric);
  return RecallAtK(r.ids, k, ds.truth, k);
}

}  // namespace qvdb::testing
