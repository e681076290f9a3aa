#include "server/engine/storage_refine_source.h"

#include <cstring>
#include <utility>

namespace qvdb {

StorageRefineSource::StorageRefineSource(const Storage* storage,
                                         std::string collection,
                                         uint32_t collection_id, int dim,
                                         Metric metric)
    : storage_(storage),
      collection_(std::move(collection)),
      collection_id_(collection_id),
      dim_(dim),
      metric_(metric) {}

void StorageRefineSource::Fetch(const int64_t* ids, size_t n, uint8_t* out,
                                std::vector<bool>* found) const {
  const size_t bytes = size_t(dim_) * sizeof(float);
  found->assign(n, false);
  std::vector<float> v(dim_);
  for (size_t i = 0; i < n; ++i) {
    if (ids[i] < 0) continue;
    auto row = storage_->GetByInternalId(collection_, uint64_t(ids[i]),
                                         RowFields{false, true},
                                         collection_id_);
    if (!row.ok() || row->vector.size() != bytes) continue;
    if (metric_ == Metric::kCosine) {
      std::memcpy(v.data(), row->vector.data(), bytes);
      NormalizeRows(v.data(), 1, dim_);
      std::memcpy(out + i * bytes, v.data(), bytes);
    } else {
      std::memcpy(out + i * bytes, row->vector.data(), bytes);
    }
    (*found)[i] = true;
  }
}

}  // namespace qvdb
