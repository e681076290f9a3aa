#include "bench/hnswlib_baseline.h"

#include <fmt/format.h>
#include <hnswlib/hnswlib.h>
#include <omp.h>

#include <atomic>
#include <exception>

namespace qvdb::bench {

struct HnswlibBaseline::Impl {
  std::unique_ptr<hnswlib::SpaceInterface<float>> space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index;
  int m = 0;
  int ef_construction = 0;
};

HnswlibBaseline::HnswlibBaseline(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
HnswlibBaseline::~HnswlibBaseline() = default;

absl::StatusOr<std::unique_ptr<HnswlibBaseline>> HnswlibBaseline::Create(
    int dim, Metric metric, size_t max_elements, int m, int ef_construction) {
  if (metric == Metric::kCosine) {
    return absl::UnimplementedError(
        "hnswlib baseline takes l2 or ip: normalise the vectors and use ip "
        "for cosine");
  }
  auto impl = std::make_unique<Impl>();
  impl->m = m;
  impl->ef_construction = ef_construction;
  try {
    if (metric == Metric::kL2) {
      impl->space = std::make_unique<hnswlib::L2Space>(dim);
    } else {
      impl->space = std::make_unique<hnswlib::InnerProductSpace>(dim);
    }
    impl->index = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        impl->space.get(), max_elements, m, ef_construction);
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(
        fmt::format("hnswlib: {} ({} elements)", e.what(), max_elements));
  }
  return std::unique_ptr<HnswlibBaseline>(new HnswlibBaseline(std::move(impl)));
}

std::string HnswlibBaseline::label() const {
  return fmt::format("hnswlib HierarchicalNSW(M={}, efConstruction={})",
                     impl_->m, impl_->ef_construction);
}

absl::Status HnswlibBaseline::Add(const float* x, size_t n, int64_t first_label,
                                  int threads) {
  const size_t dim = *static_cast<size_t*>(impl_->space->get_dist_func_param());
  std::atomic<bool> failed{false};
  std::string error;
#pragma omp parallel for schedule(dynamic, 64) num_threads(threads)
  for (int64_t i = 0; i < int64_t(n); ++i) {
    if (failed.load(std::memory_order_relaxed)) continue;
    try {
      impl_->index->addPoint(x + size_t(i) * dim,
                             hnswlib::labeltype(first_label + i));
    } catch (const std::exception& e) {
#pragma omp critical
      error = e.what();
      failed = true;
    }
  }
  if (failed) return absl::InternalError(fmt::format("hnswlib add: {}", error));
  return absl::OkStatus();
}

void HnswlibBaseline::SetEf(int ef) { impl_->index->setEf(size_t(ef)); }

absl::Status HnswlibBaseline::Search(const float* q, size_t nq, int k,
                                     int threads, int64_t* ids) const {
  const size_t dim = *static_cast<size_t*>(impl_->space->get_dist_func_param());
  std::atomic<bool> failed{false};
#pragma omp parallel for schedule(dynamic) num_threads(threads) if (nq > 1)
  for (int64_t i = 0; i < int64_t(nq); ++i) {
    int64_t* out = ids + size_t(i) * k;
    try {
      auto top = impl_->index->searchKnn(q + size_t(i) * dim, size_t(k));
      // The queue pops the worst first; fill from the back.
      for (int j = k - 1; j >= 0; --j) {
        if (int(top.size()) > j) {
          out[j] = int64_t(top.top().second);
          top.pop();
        } else {
          out[j] = -1;
        }
      }
    } catch (const std::exception&) {
      failed = true;
    }
  }
  if (failed) return absl::InternalError("hnswlib search failed");
  return absl::OkStatus();
}

size_t HnswlibBaseline::MemoryBytes() const {
  const auto& h = *impl_->index;
  size_t bytes = h.max_elements_ * h.size_data_per_element_;
  for (size_t i = 0; i < h.cur_element_count; ++i) {
    if (h.element_levels_[i] > 0) {
      bytes += h.size_links_per_element_ * size_t(h.element_levels_[i]);
    }
  }
  bytes += h.max_elements_ * (sizeof(void*) + sizeof(int));
  bytes += h.label_lookup_.size() * 32;
  return bytes;
}

size_t HnswlibBaseline::SerializedBytes() const {
  const auto& h = *impl_->index;
  size_t bytes = 13 * sizeof(size_t);  // the header fields, roughly
  bytes += h.cur_element_count * (h.size_data_per_element_ + 4);
  for (size_t i = 0; i < h.cur_element_count; ++i) {
    if (h.element_levels_[i] > 0) {
      bytes += h.size_links_per_element_ * size_t(h.element_levels_[i]);
    }
  }
  return bytes;
}

}  // namespace qvdb::bench
