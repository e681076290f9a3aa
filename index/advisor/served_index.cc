#include "index/advisor/served_index.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <vector>

#include "base/status_macros.h"

namespace qvdb {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

bool LastStageOnDisk(const IndexSpec& spec) {
  return spec.refine && spec.refine->kind == CodecKind::kFlat;
}

size_t ServedIndex::ram_bytes_per_vector() const {
  const size_t n = std::max<size_t>(1, index->size());
  return (index->memory_bytes() + n - 1) / n;  // rounded up: a budget
}

size_t ServedIndex::disk_bytes_per_vector() const {
  // The stored row as the server writes it (Collection::CodeBytes).
  size_t row = sizeof(float) * size_t(index->dim()) + index->code_size() +
               index->ram_refine_code_size();
  if (!disk_tier) row += index->refine_code_size();
  return row + (disk_tier ? disk_tier->record_bytes() : 0);
}

absl::StatusOr<ServedIndex> BuildServedIndex(const IndexSpec& spec,
                                             const float* base, size_t n,
                                             int dim, Metric metric) {
  ServedIndex s;
  ASSIGN_OR_RETURN(s.index, CreateVectorIndex(spec, dim, metric));
  if (n < s.index->min_train_size()) {
    return absl::FailedPreconditionError(
        fmt::format("needs {} training vectors, the sample leaves {}",
                    s.index->min_train_size(), n));
  }
  Clock::time_point start = Clock::now();
  RETURN_IF_ERROR(s.index->Train(base, n));
  s.train_s = SecondsSince(start);
  s.model_bytes = s.index->memory_bytes();
  std::vector<int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  start = Clock::now();
  RETURN_IF_ERROR(s.index->Add(ids.data(), base, n));
  s.add_s = SecondsSince(start);
  // Adding one id at a time leaves the RAM codes' vectors up to twice their
  // size; a long-running server's compaction reclaims that, so memory_bytes
  // counts what the vectors need.
  s.index->Compact();
  if (LastStageOnDisk(spec)) {
    ASSIGN_OR_RETURN(s.disk_tier,
                     FileRefineSource::Create(base, n, dim, metric));
    s.index->SetRefineCodeSource(s.disk_tier.get());  // drops the RAM copy
  }
  return s;
}

}  // namespace qvdb
