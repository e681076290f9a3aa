#include "bench/faiss_baseline.h"

#include <omp.h>

#include <exception>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexIVFPQFastScan.h>
#include <faiss/IndexRefine.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <faiss/invlists/BlockInvertedLists.h>
#include <fmt/format.h>

namespace qvdb::bench {
namespace {

absl::StatusOr<faiss::MetricType> FaissMetric(Metric metric) {
  if (metric == Metric::kCosine) {
    return absl::UnimplementedError(
        "Faiss baselines take l2 or ip: normalise the vectors and use ip for "
        "cosine");
  }
  return metric == Metric::kL2 ? faiss::METRIC_L2
                               : faiss::METRIC_INNER_PRODUCT;
}

std::unique_ptr<faiss::Index> MakeFlat(int dim, faiss::MetricType fm) {
  if (fm == faiss::METRIC_L2) return std::make_unique<faiss::IndexFlatL2>(dim);
  return std::make_unique<faiss::IndexFlatIP>(dim);
}

// Counts what write_index would write, without writing it.
struct CountingWriter : faiss::IOWriter {
  size_t bytes = 0;
  size_t operator()(const void*, size_t size, size_t nitems) override {
    bytes += size * nitems;
    return nitems;
  }
};

}  // namespace

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
  auto fm = FaissMetric(metric);
  if (!fm.ok()) return fm.status();
  auto b = std::unique_ptr<FaissBaseline>(new FaissBaseline());
  try {
    b->quantizer_ = MakeFlat(dim, *fm);
    const auto& c = spec.codec;
    if (c.nbits == 4) {
      b->ivf_ = std::make_unique<faiss::IndexIVFPQFastScan>(
          b->quantizer_.get(), dim, spec.ivf_nlist, c.m, 4, *fm);
      b->fast_scan_ = true;
      b->label_ = fmt::format("Faiss IndexIVFPQFastScan(nlist={}, M={}, 4 bits)",
                              spec.ivf_nlist, c.m);
    } else {
      auto ivfpq = std::make_unique<faiss::IndexIVFPQ>(
          b->quantizer_.get(), dim, spec.ivf_nlist, c.m, 8, *fm);
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

absl::StatusOr<std::unique_ptr<FaissBaseline>> FaissBaseline::CreateIvfFlat(
    int nlist, int dim, Metric metric) {
  auto fm = FaissMetric(metric);
  if (!fm.ok()) return fm.status();
  auto b = std::unique_ptr<FaissBaseline>(new FaissBaseline());
  try {
    b->quantizer_ = MakeFlat(dim, *fm);
    b->ivf_ = std::make_unique<faiss::IndexIVFFlat>(b->quantizer_.get(), dim,
                                                    nlist, *fm);
  } catch (const std::exception& e) {
    return absl::InternalError(fmt::format("Faiss: {}", e.what()));
  }
  b->label_ = fmt::format("Faiss IndexIVFFlat(nlist={})", nlist);
  return b;
}

absl::StatusOr<std::unique_ptr<FaissBaseline>> FaissBaseline::CreateHnswFlat(
    int m, int ef_construction, int dim, Metric metric) {
  auto fm = FaissMetric(metric);
  if (!fm.ok()) return fm.status();
  auto b = std::unique_ptr<FaissBaseline>(new FaissBaseline());
  try {
    auto hnsw = std::make_unique<faiss::IndexHNSWFlat>(dim, m, *fm);
    hnsw->hnsw.efConstruction = ef_construction;
    b->hnsw_ = std::move(hnsw);
  } catch (const std::exception& e) {
    return absl::InternalError(fmt::format("Faiss: {}", e.what()));
  }
  b->label_ = fmt::format("Faiss IndexHNSWFlat(M={}, efConstruction={})", m,
                          ef_construction);
  return b;
}

faiss::Index* FaissBaseline::top() const {
  if (hnsw_) return hnsw_.get();
  return refine_ ? refine_.get() : ivf_.get();
}

absl::Status FaissBaseline::Train(const float* x, size_t n) {
  try {
    top()->train(n, x);
  } catch (const std::exception& e) {
    return absl::InternalError(fmt::format("Faiss train: {}", e.what()));
  }
  return absl::OkStatus();
}

absl::Status FaissBaseline::Add(const float* x, size_t n) {
  try {
    top()->add(n, x);
  } catch (const std::exception& e) {
    return absl::InternalError(fmt::format("Faiss add: {}", e.what()));
  }
  return absl::OkStatus();
}

void FaissBaseline::SetIndexKnobs(int nprobe, int refine_factor, int ef) {
  if (hnsw_ && ef > 0) {
    static_cast<faiss::IndexHNSW*>(hnsw_.get())->hnsw.efSearch = ef;
  }
  if (ivf_ && nprobe > 0) {
    static_cast<faiss::IndexIVF*>(ivf_.get())->nprobe = nprobe;
  }
  if (refine_ && refine_factor > 0) {
    static_cast<faiss::IndexRefineFlat*>(refine_.get())->k_factor =
        refine_factor;
  }
}

absl::Status FaissBaseline::SearchWith(const float* q, size_t nq, int k,
                                       int nprobe, int ef, int threads,
                                       float* distances, int64_t* ids) const {
  // Per calling thread (OpenMP's nthreads is a per-thread setting).
  omp_set_num_threads(threads > 0 ? threads : omp_get_num_procs());
  try {
    if (hnsw_) {
      hnsw_->search(nq, q, k, distances, ids);  // ef: SetIndexKnobs
    } else if (refine_ || fast_scan_) {
      top()->search(nq, q, k, distances, ids);  // knobs: SetIndexKnobs
    } else {
      faiss::SearchParametersIVF params;
      params.nprobe = nprobe;
      ivf_->search(nq, q, k, distances, ids, &params);
    }
  } catch (const std::exception& e) {
    return absl::InternalError(fmt::format("Faiss search: {}", e.what()));
  }
  return absl::OkStatus();
}

void FaissBaseline::Search(const float* q, size_t nq, int k, int nprobe,
                           int refine_factor, float* distances, int64_t* ids) {
  SetIndexKnobs(nprobe, refine_factor);
  if (refine_ || fast_scan_) {
    try {
      top()->search(nq, q, k, distances, ids);
    } catch (const std::exception&) {
      std::fill(ids, ids + nq * k, -1);
    }
    return;
  }
  SearchWith(q, nq, k, nprobe, 0, omp_get_max_threads(), distances, ids)
      .IgnoreError();
}

size_t FaissBaseline::MemoryBytes() const {
  size_t bytes = 0;
  if (hnsw_) {
    const auto* h = static_cast<const faiss::IndexHNSW*>(hnsw_.get());
    const auto* flat = static_cast<const faiss::IndexFlatCodes*>(h->storage);
    bytes += flat->codes.size();
    bytes += h->hnsw.neighbors.size() * sizeof(h->hnsw.neighbors[0]);
    bytes += h->hnsw.offsets.size() * sizeof(size_t);
    bytes += h->hnsw.levels.size() * sizeof(int);
    return bytes;
  }
  const auto* ivf = static_cast<const faiss::IndexIVF*>(ivf_.get());
  bytes += size_t(ivf->nlist) * ivf->d * sizeof(float);  // centroids
  if (const auto* block =
          dynamic_cast<const faiss::BlockInvertedLists*>(ivf->invlists)) {
    for (size_t l = 0; l < block->nlist; ++l) {
      bytes += block->codes[l].size() + block->ids[l].size() * 8;
    }
  } else {
    for (size_t l = 0; l < ivf->invlists->nlist; ++l) {
      bytes += ivf->invlists->list_size(l) * (ivf->code_size + 8);
    }
  }
  if (const auto* pq = dynamic_cast<const faiss::IndexIVFPQ*>(ivf)) {
    bytes += pq->pq.centroids.size() * sizeof(float);
    bytes += pq->precomputed_table.size() * sizeof(float);
  }
  if (const auto* fs = dynamic_cast<const faiss::IndexIVFPQFastScan*>(ivf)) {
    bytes += fs->pq.centroids.size() * sizeof(float);
    bytes += fs->precomputed_table.size() * sizeof(float);
  }
  if (refine_) {
    const auto* r = static_cast<const faiss::IndexRefine*>(refine_.get());
    bytes += static_cast<const faiss::IndexFlatCodes*>(r->refine_index)
                 ->codes.size();
  }
  return bytes;
}

absl::StatusOr<size_t> FaissBaseline::SerializedBytes() const {
  CountingWriter writer;
  try {
    faiss::write_index(top(), &writer);
  } catch (const std::exception& e) {
    return absl::UnimplementedError(
        fmt::format("Faiss cannot serialise {}: {}", label_, e.what()));
  }
  return writer.bytes;
}

}  // namespace qvdb::bench
