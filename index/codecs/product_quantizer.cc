#include "index/codecs/product_quantizer.h"

#include <faiss/Index.h>
#include <faiss/impl/FaissAssert.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/ProductQuantizer.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cassert>
#include <cmath>
#include <cstring>
#include <exception>
#include <utility>

#include "index/kernels/lut8_kernels.h"
#include "index/kernels/simd_level.h"
#include "base/status_macros.h"

namespace qvdb {
namespace {

// k-means iterations per slot: converged enough on 10k-100k samples.
constexpr int kTrainIterations = 25;
// Faiss subsamples to ksub * this many points per slot (65536 for 8 bits).
constexpr int kMaxPointsPerCentroid = 256;
// Below this many points per centroid k-means is noisy (Faiss's own bound).
constexpr size_t kWellTrainedPointsPerCentroid = 39;
// Below this many vectors Encode stays on the calling thread.
constexpr size_t kParallelEncodeMin = 512;

// Index of the nearest of the k centroids c (k x d) to x; ties: the lowest.
int NearestOf(const float* x, const float* c, int k, int d, float* dist) {
  int best = 0;
  float best_d = INFINITY;
  for (int i = 0; i < k; ++i, c += d) {
    float s = 0.0f;
    for (int t = 0; t < d; ++t) {
      const float diff = x[t] - c[t];
      s += diff * diff;
    }
    if (s < best_d) {
      best_d = s;
      best = i;
    }
  }
  if (dist != nullptr) *dist = best_d;
  return best;
}

// The assignment step of Faiss's k-means on sub-vectors. Faiss's IndexFlatL2
// calls BLAS, whose thread pool and OpenMP's spinning workers fight over the
// cores: on 2 busy cores PQ32x8 training on siftsmall took 3 to 35 s from run
// to run, most of it spinning in libgomp. Sub-vectors have a few dimensions,
// where a plain loop is as fast as BLAS without that hazard. Only k = 1 (all
// faiss::Clustering asks for).
class SubvectorAssigner final : public faiss::Index {
 public:
  explicit SubvectorAssigner(int d) : faiss::Index(d, faiss::METRIC_L2) {}

  void add(idx_t n, const float* x) override {
    centroids_.insert(centroids_.end(), x, x + n * d);
    ntotal += n;
  }
  void reset() override {
    centroids_.clear();
    ntotal = 0;
  }
  void search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels,
              const faiss::SearchParameters* params) const override {
    FAISS_THROW_IF_NOT_MSG(k == 1, "SubvectorAssigner finds 1 neighbour");
    FAISS_THROW_IF_NOT_MSG(ntotal > 0, "SubvectorAssigner has no centroids");
#pragma omp parallel for schedule(static) if (n * ntotal * d >= (1 << 20))
    for (idx_t i = 0; i < n; ++i) {
      labels[i] = NearestOf(x + i * d, centroids_.data(), int(ntotal), d,
                            distances + i);
    }
  }

 private:
  std::vector<float> centroids_;
};

// 8-bit codes go through the dispatched Lut8ScanBatch (bit-identical to
// PqLutDistance); 4-bit codes through the scalar reference.
class PqQueryDistance final : public QueryDistance {
 public:
  PqQueryDistance(std::vector<float> lut, int m, int nbits, size_t code_size)
      : lut_(std::move(lut)),
        m_(m),
        nbits_(nbits),
        code_size_(code_size),
        level_(ActiveSimdLevel()) {}

  void Distances(const uint8_t* codes, size_t n, float* out) const override {
    if (nbits_ == 8) {
      Lut8ScanBatch(lut_.data(), m_, codes, n, code_size_, out, level_);
      return;
    }
    for (size_t i = 0; i < n; ++i) {
      out[i] = PqLutDistance(lut_.data(), codes + i * code_size_, m_, nbits_);
    }
  }

 private:
  const std::vector<float> lut_;
  const int m_;
  const int nbits_;
  const size_t code_size_;
  const SimdLevel level_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<PqCodec>> PqCodec::Create(int dim, int m,
                                                         int nbits) {
  if (dim <= 0 || m <= 0) {
    return absl::InvalidArgumentError(fmt::format(
        "PQ{}x{} on {} dimensions: dimension and M must be positive", m, nbits,
        dim));
  }
  if (dim % m != 0) {
    return absl::InvalidArgumentError(fmt::format(
        "PQ{}x{}: dimension {} is not divisible by M = {}; choose an M that "
        "divides it or reduce the dimension with PCA first",
        m, nbits, dim, m));
  }
  if (nbits != 4 && nbits != 8) {
    return absl::InvalidArgumentError(fmt::format(
        "PQ{}x{}: PQ codes have 4 or 8 bits per sub-quantizer, got {}", m,
        nbits, nbits));
  }
  return std::make_unique<PqCodec>(Key(), dim, m, nbits);
}

PqCodec::PqCodec(Key, int dim, int m, int nbits)
    : Codec(dim),
      m_(m),
      nbits_(nbits),
      ksub_(1 << nbits),
      dsub_(dim / m),
      code_size_(nbits == 8 ? size_t(m) : (size_t(m) + 1) / 2) {}

std::string PqCodec::spec() const { return fmt::format("PQ{}x{}", m_, nbits_); }

absl::Status PqCodec::DoTrain(const float* x, size_t n) {
  if (n < kWellTrainedPointsPerCentroid * ksub_) {
    spdlog::warn(
        "{}: training on {} vectors; {} or more give better "
        "centroids",
        spec(), n, kWellTrainedPointsPerCentroid * ksub_);
  }
  std::vector<float> centroids;
  try {
    SubvectorAssigner assigner(dsub_);
    faiss::ProductQuantizer pq(dim(), m_, nbits_);
    pq.assign_index = &assigner;  // not owned
    pq.verbose = false;
    pq.cp.niter = kTrainIterations;
    pq.cp.max_points_per_centroid = kMaxPointsPerCentroid;
    // We warn once above instead of Faiss printing once per slot.
    pq.cp.min_points_per_centroid = 1;
    pq.train(n, x);
    centroids = std::move(pq.centroids);
  } catch (const faiss::FaissException& e) {
    return absl::InternalError(
        fmt::format("{}: Faiss PQ training failed: {}", spec(), e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(
        fmt::format("{}: PQ training failed: {}", spec(), e.what()));
  }
  const size_t expected = size_t(m_) * ksub_ * dsub_;
  if (centroids.size() != expected) {
    return absl::InternalError(
        fmt::format("{}: Faiss returned {} centroid floats, expected {}",
                    spec(), centroids.size(), expected));
  }
  centroids_ = std::move(centroids);
  return absl::OkStatus();
}

int PqCodec::NearestCentroid(int j, const float* xs) const {
  return NearestOf(xs, centroid(j, 0), ksub_, dsub_, nullptr);
}

absl::Status PqCodec::DoEncode(const float* x, size_t n, uint8_t* codes) const {
#pragma omp parallel for schedule(static) if (n >= kParallelEncodeMin)
  for (int64_t i = 0; i < int64_t(n); ++i) {
    const float* xi = x + size_t(i) * dim();
    uint8_t* code = codes + size_t(i) * code_size_;
    std::memset(code, 0, code_size_);
    for (int j = 0; j < m_; ++j) {
      const int c = NearestCentroid(j, xi + size_t(j) * dsub_);
      if (nbits_ == 8) {
        code[j] = uint8_t(c);
      } else {
        code[j >> 1] |= uint8_t((j & 1) ? c << 4 : c);
      }
    }
  }
  return absl::OkStatus();
}

void PqCodec::Decode(const uint8_t* codes, size_t n, float* x) const {
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* code = codes + i * code_size_;
    float* xi = x + i * dim();
    for (int j = 0; j < m_; ++j) {
      std::memcpy(xi + size_t(j) * dsub_,
                  centroid(j, PqSubCode(code, j, nbits_)),
                  sizeof(float) * dsub_);
    }
  }
}

void PqCodec::ComputeLut(const float* query, Metric metric, float* lut) const {
  assert(is_trained() && "ComputeLut needs a trained codec");
  const bool l2 = metric == Metric::kL2;
  for (int j = 0; j < m_; ++j) {
    const float* qs = query + size_t(j) * dsub_;
    const float* c = centroid(j, 0);
    float* row = lut + size_t(j) * ksub_;
    for (int k = 0; k < ksub_; ++k, c += dsub_) {
      float acc = 0.0f;
      if (l2) {
        for (int t = 0; t < dsub_; ++t) {
          const float diff = qs[t] - c[t];
          acc += diff * diff;
        }
        row[k] = acc;
      } else {
        for (int t = 0; t < dsub_; ++t) acc += qs[t] * c[t];
        row[k] = -acc;
      }
    }
  }
}

std::unique_ptr<QueryDistance> PqCodec::MakeQueryDistance(const float* query,
                                                          Metric metric) const {
  assert(is_trained() && "codec.h: MakeQueryDistance needs a trained codec");
  std::vector<float> lut(size_t(m_) * ksub_);
  ComputeLut(query, CodecMetric(metric), lut.data());
  return std::make_unique<PqQueryDistance>(std::move(lut), m_, nbits_,
                                           code_size_);
}

// State: u8 trained, then (if trained) the centroid array (M x ksub x dsub).
void PqCodec::SaveState(ByteWriter* w) const {
  w->Put<uint8_t>(is_trained() ? 1 : 0);
  if (is_trained()) w->PutArray(centroids_);
}

absl::Status PqCodec::LoadState(ByteReader* r) {
  uint8_t trained = 0;
  RETURN_IF_ERROR(r->Get(&trained));
  if (trained > 1) {
    return absl::DataLossError(fmt::format(
        "{} model: bad trained flag {}; the model bytes are corrupt", spec(),
        trained));
  }
  std::vector<float> centroids;
  if (trained == 1) {
    RETURN_IF_ERROR(r->GetArray(&centroids, size_t(m_) * ksub_ * dsub_));
    for (float v : centroids) {
      if (!std::isfinite(v)) {
        return absl::DataLossError(fmt::format(
            "{} model has a non-finite centroid value; the model bytes are "
            "corrupt",
            spec()));
      }
    }
  }
  centroids_ = std::move(centroids);
  return absl::OkStatus();
}

}  // namespace qvdb
