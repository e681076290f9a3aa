// The in-process subjects of a sweep: qvdb's index, the Faiss baselines
// and hnswlib (sweep_subject.h).
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <numeric>

#include "bench/faiss_baseline.h"
#include "bench/hnswlib_baseline.h"
#include "bench/sweep_subject.h"
#include "base/status_macros.h"
#include "index/vector_index.h"

namespace qvdb::bench {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::vector<int> OrZero(const std::vector<int>& values, bool has) {
  return has && !values.empty() ? values : std::vector<int>{0};
}

}  // namespace

std::vector<Knobs> QvdbKnobGrid(const IndexSpec& spec, const KnobLists& lists) {
  std::vector<Knobs> grid;
  for (int nprobe : OrZero(lists.nprobes, spec.ivf_nlist > 0)) {
    for (int rf : OrZero(lists.refine_factors, spec.refine.has_value())) {
      for (int rrf : OrZero(lists.ram_refine_factors,
                            spec.ram_refine.has_value())) {
        // A RAM tier passing on as many candidates as it got is a no-op.
        if (rrf > 0 && rrf < rf) continue;
        grid.push_back({nprobe, rf, 0, rrf});
      }
    }
  }
  return grid;
}

namespace {

class QvdbSubject final : public SweepSubject {
 public:
  explicit QvdbSubject(std::unique_ptr<VectorIndex> index)
      : index_(std::move(index)) {}

  std::string system() const override { return "qvdb"; }
  std::string label() const override { return index_->spec().ToString(); }

  absl::StatusOr<BuildFigures> Build(const Matrix<float>& train,
                                     const Matrix<float>& base,
                                     int threads) override {
    omp_set_num_threads(threads);
    BuildFigures f;
    auto t0 = Clock::now();
    RETURN_IF_ERROR(index_->Train(train.data.data(), train.rows));
    f.train_seconds = Since(t0);
    t0 = Clock::now();
    std::vector<int64_t> ids(base.rows);
    std::iota(ids.begin(), ids.end(), 0);
    constexpr size_t kAddBatch = 100000;
    for (size_t i = 0; i < base.rows; i += kAddBatch) {
      const size_t m = std::min(kAddBatch, base.rows - i);
      RETURN_IF_ERROR(index_->Add(ids.data() + i, base.row(i), m));
    }
    f.add_seconds = Since(t0);
    return f;
  }

  absl::StatusOr<Footprint> Measure() const override {
    const double n = double(std::max<size_t>(1, index_->size()));
    Footprint f;
    f.ram_bytes_per_vector = double(index_->memory_bytes()) / n;
    f.ram_how =
        "VectorIndex::memory_bytes() / n: lists (codes, ids), models, and "
        "refine codes when held in RAM";
    f.disk_bytes_per_vector =
        double(index_->code_size() + index_->refine_code_size() + 8);
    f.disk_how =
        "code_size + refine_code_size + 8-byte id: what storage keeps per "
        "vector for the index (models and RocksDB overhead not counted)";
    return f;
  }

  std::vector<Knobs> KnobGrid(const KnobLists& lists) const override {
    return QvdbKnobGrid(index_->spec(), lists);
  }

  absl::Status Search(const float* queries, size_t nq, int k,
                      const Knobs& knobs, int threads,
                      int64_t* ids) const override {
    SearchParams params;
    params.k = k;
    if (knobs.nprobe > 0) params.nprobe = knobs.nprobe;
    if (knobs.refine_factor > 0) params.refine_factor = knobs.refine_factor;
    if (knobs.ram_refine_factor > 0) {
      params.ram_refine_factor = knobs.ram_refine_factor;
    }
    params.num_threads = threads;
    ASSIGN_OR_RETURN(SearchResults r, index_->Search(queries, nq, params));
    std::copy(r.ids.begin(), r.ids.end(), ids);
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<VectorIndex> index_;
};

class FaissSubject final : public SweepSubject {
 public:
  FaissSubject(std::string system, std::unique_ptr<FaissBaseline> faiss,
               size_t n)
      : system_(std::move(system)), faiss_(std::move(faiss)), n_(n) {}

  std::string system() const override { return system_; }
  std::string label() const override { return faiss_->label(); }

  absl::StatusOr<BuildFigures> Build(const Matrix<float>& train,
                                     const Matrix<float>& base,
                                     int threads) override {
    omp_set_num_threads(threads);
    BuildFigures f;
    auto t0 = Clock::now();
    RETURN_IF_ERROR(faiss_->Train(train.data.data(), train.rows));
    f.train_seconds = Since(t0);
    t0 = Clock::now();
    RETURN_IF_ERROR(faiss_->Add(base.data.data(), base.rows));
    f.add_seconds = Since(t0);
    return f;
  }

  absl::StatusOr<Footprint> Measure() const override {
    Footprint f;
    f.ram_bytes_per_vector = double(faiss_->MemoryBytes()) / double(n_);
    f.ram_how =
        faiss_->is_hnsw()
            ? "counted from the structures / n: float32 vectors, neighbour "
              "array (4 bytes a link), offsets, levels"
            : "counted from the structures / n: inverted-list codes as "
              "allocated (fast scan: blocks of 32) and 8-byte ids, "
              "centroids, PQ tables, refine float32 vectors";
    ASSIGN_OR_RETURN(size_t bytes, faiss_->SerializedBytes());
    f.disk_bytes_per_vector = double(bytes) / double(n_);
    f.disk_how = "bytes faiss::write_index writes / n (counted, not written)";
    return f;
  }

  std::vector<Knobs> KnobGrid(const KnobLists& lists) const override {
    std::vector<Knobs> grid;
    if (faiss_->is_hnsw()) {
      for (int ef : lists.efs) grid.push_back({0, 0, ef});
      return grid;
    }
    for (int nprobe : lists.nprobes) {
      for (int rf : OrZero(lists.refine_factors, faiss_->has_refine())) {
        grid.push_back({nprobe, rf, 0});
      }
    }
    return grid;
  }

  absl::Status Prepare(const Knobs& knobs) override {
    faiss_->SetIndexKnobs(knobs.nprobe, knobs.refine_factor, knobs.ef);
    return absl::OkStatus();
  }

  absl::Status Search(const float* queries, size_t nq, int k,
                      const Knobs& knobs, int threads,
                      int64_t* ids) const override {
    std::vector<float> distances(nq * k);
    return faiss_->SearchWith(queries, nq, k, knobs.nprobe, knobs.ef, threads,
                              distances.data(), ids);
  }

 private:
  std::string system_;
  std::unique_ptr<FaissBaseline> faiss_;
  size_t n_;
};

class HnswlibSubject final : public SweepSubject {
 public:
  HnswlibSubject(std::unique_ptr<HnswlibBaseline> hnsw, size_t n)
      : hnsw_(std::move(hnsw)), n_(n) {}

  std::string system() const override { return "hnswlib"; }
  std::string label() const override { return hnsw_->label(); }

  absl::StatusOr<BuildFigures> Build(const Matrix<float>& train,
                                     const Matrix<float>& base,
                                     int threads) override {
    BuildFigures f;  // nothing to train
    const auto t0 = Clock::now();
    RETURN_IF_ERROR(hnsw_->Add(base.data.data(), base.rows, 0, threads));
    f.add_seconds = Since(t0);
    return f;
  }

  absl::StatusOr<Footprint> Measure() const override {
    Footprint f;
    f.ram_bytes_per_vector = double(hnsw_->MemoryBytes()) / double(n_);
    f.ram_how =
        "from the structures / n: level-0 block (links, vector, label), "
        "upper-level links, per-element pointer and level, ~32 bytes per "
        "label-map entry (estimate)";
    f.disk_bytes_per_vector = double(hnsw_->SerializedBytes()) / double(n_);
    f.disk_how = "what saveIndex writes / n (computed from the same sizes)";
    return f;
  }

  std::vector<Knobs> KnobGrid(const KnobLists& lists) const override {
    std::vector<Knobs> grid;
    for (int ef : lists.efs) grid.push_back({0, 0, ef});
    return grid;
  }

  absl::Status Prepare(const Knobs& knobs) override {
    hnsw_->SetEf(knobs.ef);
    return absl::OkStatus();
  }

  absl::Status Search(const float* queries, size_t nq, int k,
                      const Knobs& knobs, int threads,
                      int64_t* ids) const override {
    return hnsw_->Search(queries, nq, k, threads, ids);
  }

 private:
  std::unique_ptr<HnswlibBaseline> hnsw_;
  size_t n_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SweepSubject>> MakeQvdbSubject(
    const IndexSpec& spec, int dim, Metric metric) {
  ASSIGN_OR_RETURN(auto index, CreateVectorIndex(spec, dim, metric));
  return std::make_unique<QvdbSubject>(std::move(index));
}

absl::StatusOr<std::unique_ptr<SweepSubject>> MakeBaselineSubject(
    const std::string& name, const BaselineParams& p, int dim, size_t n,
    Metric metric) {
  if (name == "hnswlib") {
    ASSIGN_OR_RETURN(
        auto hnsw,
        HnswlibBaseline::Create(dim, metric, n, p.hnsw_m, p.ef_construction));
    return std::make_unique<HnswlibSubject>(std::move(hnsw), n);
  }
  std::unique_ptr<FaissBaseline> faiss;
  if (name == "faiss-ivfpq" || name == "faiss-ivfpqfs-refine") {
    if (dim % p.pq_m != 0) {
      return absl::InvalidArgumentError(
          fmt::format("{}: M = {} does not divide the dimension {}: pass "
                      "--baseline-pq-m with a divisor",
                      name, p.pq_m, dim));
    }
    IndexSpec spec;
    spec.ivf_nlist = p.nlist;
    spec.codec.kind = CodecKind::kPQ;
    spec.codec.m = p.pq_m;
    if (name == "faiss-ivfpq") {
      spec.codec.nbits = 8;
    } else {
      spec.codec.nbits = 4;
      spec.codec.fast_scan = true;
      spec.refine = CodecSpec{};  // Flat
    }
    ASSIGN_OR_RETURN(faiss, FaissBaseline::Create(spec, dim, metric));
  } else if (name == "faiss-ivfflat") {
    ASSIGN_OR_RETURN(faiss, FaissBaseline::CreateIvfFlat(p.nlist, dim, metric));
  } else if (name == "faiss-hnsw") {
    ASSIGN_OR_RETURN(faiss, FaissBaseline::CreateHnswFlat(
                                p.hnsw_m, p.ef_construction, dim, metric));
  } else {
    return absl::InvalidArgumentError(fmt::format(
        "unknown baseline \"{}\": use faiss-ivfpq, faiss-ivfpqfs-refine, "
        "faiss-ivfflat, faiss-hnsw, hnswlib, all or none",
        name));
  }
  return std::make_unique<FaissSubject>(name, std::move(faiss), n);
}

}  // namespace qvdb::bench
