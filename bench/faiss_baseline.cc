#include "bench/faiss_baseline.h"

#include <exception>

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexIVFPQFastScan.h>
#include <faiss/IndexRefine.h>
#include <fmt/format.h>

namespace qvdb::bench {

absl::StatusOr<std::unique_ptr<FaissBaseline>> FaissBaseline::Create(
    const IndexSpec& spec, int dim, Metric metric) {
  if (spec.ivf_nlist == 0 || spec.pca_dim != 0 ||
      spec.codec.kind != CodecKind::kPQ ||
      (spec.refine && spec.refine->kind != CodecKind::kFlat)) {
    return absl::UnimplementedError(fmt::format(
        "no like-for-like Faiss baseline for {}: use IVF<n>,PQ<M>x4fs or "
        "IVF<n>,PQ<M>x8, optionally with Refine(Flat)",
        spec.ToString()));
  }
  if (metric == Metric::kCosine) {
    return absl::UnimplementedError("Faiss baseline supports l2 and ip only");
  }
  const faiss::MetricType fm = metric == Metric::kL2
                                   ? faiss::METRIC_L2
                                   : faiss::METRIC_INNER_PRODUCT;
  auto b = std::unique_ptr<FaissBaseline>(new FaissBaseline());
  try {
    if (fm == faiss::METRIC_L2) {
      b->quantizer_ = std::make_unique<faiss::IndexFlatL2>(dim);
    } else {
      b->quantizer_ = std::make_unique<faiss::IndexFlatIP>(dim);
    }
    const auto& c = spec.codec;
    if (c.nbits == 4) {
      b->ivf_ = std::make_unique<faiss::IndexIVFPQFastScan>(
          b->quantizer_.get(), dim, spec.ivf_nlist, c.m, 4, fm);
      b->label_ = fmt::format("Faiss IndexIVFPQFastScan(nlist={}, M={}, 4 bits)",
                              spec.ivf_nlist, c.m);
    } else {
      auto ivfpq = std::make_unique<faiss::IndexIVFPQ>(
          b->quantizer_.get(), dim, spec.ivf_nlist, c.m, 8, fm);
      ivfpq->do_polysemous_training = false;
      b->ivf_ = std::move(ivfpq);
      b->label_ = fmt::format("Faiss IndexIVFPQ(nlist={}, M={}, 8 bits)",
                              spec.ivf_nlist, c.m);
    }
    if (spec.refine) {
      b->refine_ = std::make_unique<faiss::IndexRefineFlat>(b->ivf_.get());
      b->label_ += " in IndexRefineFlat";
    }
  } catch (const std::exception& e) {
    return absl::InternalError(fmt::format("Faiss: {}", e.what()));
  }
  return b;
}

absl::Status FaissBaseline::Train(const float* x, size_t n) {
  try {
    (refine_ ? refine_ : ivf_)->train(n, x);
  } catch (const std::exception& e) {
    return absl::InternalError(fmt::format("Faiss train: {}", e.what()));
  }
  return absl::OkStatus();
}

absl::Status FaissBaseline::Add(const float* x, size_t n) {
  try {
    (refine_ ? refine_ : ivf_)->add(n, x);
  } catch (const std::exception& e) {
    return absl::InternalError(fmt::format("Faiss add: {}", e.what()));
  }
  return absl::OkStatus();
}

void FaissBaseline::Search(const float* q, size_t nq, int k, int nprobe,
                           int refine_factor, float* distances, int64_t* ids) {
  // Fast-scan IVF in Faiss 1.7.3 ignores per-call parameters: set it here.
  static_cast<faiss::IndexIVF*>(ivf_.get())->nprobe = nprobe;
  if (refine_) {
    static_cast<faiss::IndexRefineFlat*>(refine_.get())->k_factor =
        refine_factor;
    refine_->search(nq, q, k, distances, ids);
  } else {
    ivf_->search(nq, q, k, distances, ids);
  }
}

}  // namespace qvdb::bench
