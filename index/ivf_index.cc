#include "index/ivf_index.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>

#include <omp.h>

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <fmt/format.h>

#include "index/codec_factory.h"
#include "index/pq4_fast_scan.h"
#include "index/scalar_distance_kernels.h"
#include "index/select_nearest.h"
#include "index/simd_level.h"
#include "index/status_macros.h"
#include "index/top_k.h"

namespace qvdb {
namespace {

constexpr uint32_t kModelMagic = 0x58495651;  // "QVIX"
constexpr uint32_t kModelVersion = 1;
// Queries sharing each list's scan. Large enough that, with 1024 lists and
// nprobe 16, a list is probed by several queries of a chunk (+13% batch QPS
// on the 1M generated set against 64), small enough to bound the scratch
// memory (about 1 MB at M = 32 and 40 candidates per query).
constexpr size_t kQueryChunk = 256;
constexpr int kRescoreFactor = 2;      // spare candidates for exact re-scoring
constexpr size_t kMaxTrainSample = 100000;
constexpr int kMaxK = 10000;

float Dot(const float* a, const float* b, int d) {
  float s = 0;
  for (int i = 0; i < d; ++i) s += a[i] * b[i];
  return s;
}

float L2(const float* a, const float* b, int d) {
  float s = 0;
  for (int i = 0; i < d; ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

// Residual coding pays off for codecs whose error scales with the data's
// spread (PQ, RQ); scalar codecs keep absolute values.
bool UsesResidual(const IndexSpec& spec) {
  return spec.ivf_nlist > 0 &&
         (spec.codec.kind == CodecKind::kPQ || spec.codec.kind == CodecKind::kRQ);
}

std::unique_ptr<ListScanner> MakeScanner(const IndexSpec& spec,
                                         const Codec& codec) {
  // The factory builds a PqCodec for every kPQ spec (codec_factory.cc).
  return spec.codec.fast_scan
             ? MakePq4FastScanner(static_cast<const PqCodec&>(codec))
             : MakeGenericScanner(codec);
}

}  // namespace

absl::StatusOr<std::unique_ptr<VectorIndex>> CreateVectorIndex(
    const IndexSpec& spec, int dim, Metric metric) {
  ASSIGN_OR_RETURN(auto index, IvfIndex::Create(spec, dim, metric));
  return std::unique_ptr<VectorIndex>(std::move(index));
}

absl::StatusOr<std::unique_ptr<IvfIndex>> IvfIndex::Create(
    const IndexSpec& spec, int dim, Metric metric) {
  if (dim <= 0) {
    return absl::InvalidArgumentError(
        fmt::format("dimension must be positive, got {}", dim));
  }
  if (spec.pca_dim > dim) {
    return absl::InvalidArgumentError(fmt::format(
        "PCA{} cannot reduce {} dimensions: use at most PCA{}", spec.pca_dim,
        dim, dim));
  }
  const int work_dim = spec.pca_dim > 0 ? spec.pca_dim : dim;
  ASSIGN_OR_RETURN(std::unique_ptr<Codec> codec, MakeCodec(spec.codec, work_dim));
  std::unique_ptr<Codec> refine;
  if (spec.refine) {
    ASSIGN_OR_RETURN(refine, MakeCodec(*spec.refine, dim));
  }
  return std::unique_ptr<IvfIndex>(
      new IvfIndex(spec, dim, metric, std::move(codec), std::move(refine)));
}

IvfIndex::IvfIndex(const IndexSpec& spec, int dim, Metric metric,
                   std::unique_ptr<Codec> codec, std::unique_ptr<Codec> refine)
    : spec_(spec),
      dim_(dim),
      metric_(metric),
      work_dim_(spec.pca_dim > 0 ? spec.pca_dim : dim),
      by_residual_(UsesResidual(spec)),
      codec_(std::move(codec)),
      refine_(std::move(refine)),
      lists_(std::max(1, spec.ivf_nlist), codec_->code_size(),
             spec.codec.fast_scan ? ListLayout::kPq4Blocks
                                  : ListLayout::kPacked,
             spec.codec.fast_scan ? spec.codec.m : 0) {
  scanner_ = MakeScanner(spec_, *codec_);
  if (spec.pca_dim > 0) {
    pca_ = std::make_unique<PcaTransform>(dim, spec.pca_dim, spec.pca_rotation);
  }
  coarse_trained_ = spec.ivf_nlist == 0;
}

bool IvfIndex::is_trained() const {
  return coarse_trained_ && (!pca_ || pca_->is_trained()) &&
         codec_->is_trained() && (!refine_ || refine_->is_trained());
}

size_t IvfIndex::min_train_size() const {
  size_t n = std::max<size_t>(codec_->min_train_size(), spec_.ivf_nlist);
  if (refine_) n = std::max(n, refine_->min_train_size());
  if (pca_) n = std::max<size_t>(n, spec_.pca_dim);
  return std::max<size_t>(n, 1);
}

size_t IvfIndex::size() const {
  std::shared_lock lock(mu_);
  return lists_.size();
}

size_t IvfIndex::memory_bytes() const {
  std::shared_lock lock(mu_);
  return lists_.memory_bytes() + refine_codes_.size() +
         centroids_.capacity() * sizeof(float) + pq_tables_.memory_bytes();
}

std::vector<float> IvfIndex::ToWorkSpace(const float* x, size_t n) const {
  std::vector<float> in(x, x + n * dim_);
  if (metric_ == Metric::kCosine) NormalizeRows(in.data(), n, dim_);
  if (!pca_) return in;
  std::vector<float> out(n * work_dim_);
  pca_->Apply(in.data(), n, out.data());
  return out;
}

std::vector<int32_t> IvfIndex::Assign(const float* work, size_t n) const {
  std::vector<int32_t> lists(n, 0);
  if (spec_.ivf_nlist == 0) return lists;
  faiss::IndexFlatL2 quantizer(work_dim_);
  quantizer.add(nlist(), centroids_.data());
  std::vector<float> dist(n);
  std::vector<faiss::Index::idx_t> label(n);
  quantizer.search(n, work, 1, dist.data(), label.data());
  for (size_t i = 0; i < n; ++i) lists[i] = int32_t(label[i]);
  return lists;
}

absl::Status IvfIndex::Train(const float* x, size_t n) {
  if (n < min_train_size()) {
    return absl::InvalidArgumentError(fmt::format(
        "{} needs at least {} training vectors, got {}", spec_.ToString(),
        min_train_size(), n));
  }
  RETURN_IF_ERROR(CheckFinite(x, n, dim_));
  // An evenly strided sample keeps training time bounded on large inputs.
  const size_t sample = std::min(n, kMaxTrainSample);
  std::vector<float> raw(sample * dim_);
  for (size_t i = 0; i < sample; ++i) {
    const size_t src = i * n / sample;
    std::memcpy(&raw[i * dim_], x + src * dim_, sizeof(float) * dim_);
  }
  if (metric_ == Metric::kCosine) NormalizeRows(raw.data(), sample, dim_);
  if (pca_) RETURN_IF_ERROR(pca_->Train(raw.data(), sample));
  std::vector<float> work = pca_ ? std::vector<float>(sample * work_dim_)
                                 : raw;
  if (pca_) pca_->Apply(raw.data(), sample, work.data());

  if (spec_.ivf_nlist > 0) {
    try {
      faiss::ClusteringParameters cp;
      cp.niter = 20;
      cp.seed = 1234;
      cp.verbose = false;
      faiss::Clustering clus(work_dim_, spec_.ivf_nlist, cp);
      faiss::IndexFlatL2 assigner(work_dim_);
      clus.train(sample, work.data(), assigner);
      centroids_ = clus.centroids;
    } catch (const std::exception& e) {
      return absl::InternalError(
          fmt::format("IVF k-means training failed: {}", e.what()));
    }
    coarse_trained_ = true;
  }
  if (by_residual_) {
    const std::vector<int32_t> lists = Assign(work.data(), sample);
    for (size_t i = 0; i < sample; ++i) {
      const float* c = &centroids_[size_t(lists[i]) * work_dim_];
      for (int j = 0; j < work_dim_; ++j) work[i * work_dim_ + j] -= c[j];
    }
  }
  RETURN_IF_ERROR(codec_->Train(work.data(), sample));
  BuildPqTables();
  if (refine_) RETURN_IF_ERROR(refine_->Train(raw.data(), sample));
  return absl::OkStatus();
}

absl::StatusOr<EncodedVectors> IvfIndex::Encode(const float* x,
                                                size_t n) const {
  if (!is_trained()) {
    return absl::FailedPreconditionError(fmt::format(
        "index {} is not trained: train it first", spec_.ToString()));
  }
  RETURN_IF_ERROR(CheckFinite(x, n, dim_));
  EncodedVectors out;
  out.n = n;
  std::vector<float> work = ToWorkSpace(x, n);
  out.lists = Assign(work.data(), n);
  if (by_residual_) {
    for (size_t i = 0; i < n; ++i) {
      const float* c = &centroids_[size_t(out.lists[i]) * work_dim_];
      for (int j = 0; j < work_dim_; ++j) work[i * work_dim_ + j] -= c[j];
    }
  }
  out.codes.resize(n * codec_->code_size());
  RETURN_IF_ERROR(codec_->Encode(work.data(), n, out.codes.data()));
  if (refine_) {
    std::vector<float> raw(x, x + n * dim_);
    if (metric_ == Metric::kCosine) NormalizeRows(raw.data(), n, dim_);
    out.refine_codes.resize(n * refine_->code_size());
    RETURN_IF_ERROR(refine_->Encode(raw.data(), n, out.refine_codes.data()));
  }
  return out;
}

absl::Status IvfIndex::AddEncoded(const int64_t* ids,
                                  const EncodedVectors& enc) {
  const size_t cs = codec_->code_size();
  const size_t rcs = refine_code_size();
  if (enc.lists.size() != enc.n || enc.codes.size() != enc.n * cs ||
      (rcs > 0 && refine_source_ == nullptr &&
       enc.refine_codes.size() != enc.n * rcs)) {
    return absl::InvalidArgumentError(
        "encoded vectors do not match this index's code sizes");
  }
  for (size_t i = 0; i < enc.n; ++i) {
    if (ids[i] < 0) {
      return absl::InvalidArgumentError(
          fmt::format("internal id {} is negative", ids[i]));
    }
    if (enc.lists[i] < 0 || enc.lists[i] >= nlist()) {
      return absl::InvalidArgumentError(fmt::format(
          "list {} is out of range (nlist {})", enc.lists[i], nlist()));
    }
  }
  std::unique_lock lock(mu_);
  for (size_t i = 0; i < enc.n; ++i) {
    lists_.Add(ids[i], enc.lists[i], enc.codes.data() + i * cs);
    if (rcs > 0 && !enc.refine_codes.empty()) {
      const size_t need = (size_t(ids[i]) + 1) * rcs;
      if (refine_codes_.size() < need) refine_codes_.resize(need);
      std::memcpy(&refine_codes_[size_t(ids[i]) * rcs],
                  enc.refine_codes.data() + i * rcs, rcs);
    }
  }
  return absl::OkStatus();
}

absl::Status IvfIndex::Add(const int64_t* ids, const float* x, size_t n) {
  ASSIGN_OR_RETURN(EncodedVectors enc, Encode(x, n));
  return AddEncoded(ids, enc);
}

void IvfIndex::Remove(const int64_t* ids, size_t n) {
  std::unique_lock lock(mu_);
  for (size_t i = 0; i < n; ++i) lists_.Remove(ids[i]);
}

void IvfIndex::Compact() {
  std::unique_lock lock(mu_);
  lists_.Compact();
}

void IvfIndex::SetRefineCodeSource(const RefineCodeSource* source) {
  std::unique_lock lock(mu_);
  refine_source_ = source;
  if (source) std::vector<uint8_t>().swap(refine_codes_);
}

void IvfIndex::BuildPqTables() {
  pq_tables_.Clear();
  if (!spec_.codec.fast_scan || !codec_->is_trained()) return;
  // Per-list terms only for residual L2 (ivf_pq_tables.h); inner product and
  // flat search need the query terms alone.
  const bool per_list = by_residual_ && CodecMetric(metric_) == Metric::kL2 &&
                        !centroids_.empty();
  pq_tables_.Build(static_cast<const PqCodec&>(*codec_), centroids_.data(),
                   per_list ? nlist() : 0);
}

absl::Status IvfIndex::CheckQueryable(size_t nq,
                                      const SearchParams& params) const {
  if (!is_trained()) {
    return absl::FailedPreconditionError(fmt::format(
        "index {} is not trained: train it first", spec_.ToString()));
  }
  if (params.k <= 0 || params.k > kMaxK) {
    return absl::InvalidArgumentError(
        fmt::format("k must be between 1 and {}, got {}", kMaxK, params.k));
  }
  if (params.nprobe <= 0) {
    return absl::InvalidArgumentError(
        fmt::format("nprobe must be positive, got {}", params.nprobe));
  }
  if (params.refine_factor <= 0) {
    return absl::InvalidArgumentError(fmt::format(
        "refine_factor must be positive, got {}", params.refine_factor));
  }
  return absl::OkStatus();
}

// Buffers one search thread reuses between chunks of queries and between
// searches (IvfIndex keeps a pool of them).
struct IvfIndex::SearchScratch {
  std::vector<float> raw;            // nq x dim: normalised queries (cosine)
  std::vector<float> work;           // nq x work_dim: queries after PCA
  std::vector<float> constant;       // nq: PCA's per-query constant
  std::vector<float> coarse;         // nlist: one query's coarse distances
  std::vector<int32_t> probe_list;   // nq x nprobe lists, nearest first
  std::vector<float> probe_dist;     // nq x nprobe coarse distances
  std::vector<uint32_t> order;       // probe indices in scan order
  std::vector<uint32_t> by_list;     // one phase's probes grouped by list
  std::vector<uint32_t> list_start;  // nlist + 1 (counting sort)
  std::vector<float> neg_qy;         // nq x lut_size (ivf_pq_tables.h)
  std::vector<QuantizedLut> qluts;   // nq: tables every list shares
  QuantizedLut group_qluts[ScanScratch::kGroup];  // a group's list tables
  std::vector<float> residuals;      // kGroup x work_dim (generic scanner)
  std::vector<ListQuery> list_queries;
  std::vector<TopK> tops;
  ScanScratch scan;
  // Refine and Rescore.
  std::vector<int64_t> cand;
  std::vector<float> cand_dist;
  std::vector<float> exact;
  std::vector<float> decoded;
  std::vector<uint8_t> codes;
  std::vector<bool> found;
  TopK final_top;
  // Set per chunk by SearchChunk for ScanProbes.
  const float* work_q = nullptr;  // nq x work_dim
  int nprobe = 0;
  int mode = 0;
};

namespace {

// How the fast scanner gets its tables (none for the generic scanner).
enum TableMode : int {
  kNoTables = 0,
  kPerListTables = 1,   // residual L2: a table per (query, list)
  kPerQueryTables = 2,  // inner product or no IVF: one table per query
};

// Scratch buffers kept for reuse; more threads than this allocate their own.
constexpr size_t kMaxPooledScratch = 64;

// The nprobe smallest (distance, list) pairs of dist[0, n), ascending; ties
// go to the lower list.
void SelectNearest(const float* dist, int n, int nprobe, int32_t* lists,
                   float* dists) {
  int have = 0;
  for (int l = 0; l < n; ++l) {
    InsertNearest(dist[l], l, nprobe, &have, lists, dists);
  }
}

}  // namespace

IvfIndex::~IvfIndex() = default;

std::unique_ptr<IvfIndex::SearchScratch> IvfIndex::AcquireScratch() const {
  {
    std::lock_guard lock(scratch_mu_);
    if (!scratch_pool_.empty()) {
      std::unique_ptr<SearchScratch> s = std::move(scratch_pool_.back());
      scratch_pool_.pop_back();
      return s;
    }
  }
  return std::make_unique<SearchScratch>();
}

void IvfIndex::ReleaseScratch(std::unique_ptr<SearchScratch> scratch) const {
  std::lock_guard lock(scratch_mu_);
  if (scratch_pool_.size() < kMaxPooledScratch) {
    scratch_pool_.push_back(std::move(scratch));
  }
}

absl::StatusOr<SearchResults> IvfIndex::Search(
    const float* queries, size_t nq, const SearchParams& params) const {
  RETURN_IF_ERROR(CheckQueryable(nq, params));
  RETURN_IF_ERROR(CheckFinite(queries, nq, dim_));
  SearchResults r;
  r.k = params.k;
  r.ids.assign(nq * params.k, -1);
  r.distances.assign(nq * params.k, std::numeric_limits<float>::infinity());
  if (nq == 0) return r;
  std::shared_lock lock(mu_);
  int threads = params.num_threads;
  if (threads <= 0) threads = omp_get_max_threads();
  // Queries go in chunks so that each list a chunk probes is scanned once
  // for all the chunk's queries probing it.
  const size_t chunk =
      std::clamp<size_t>((nq + threads - 1) / threads, 1, kQueryChunk);
  const size_t nchunks = (nq + chunk - 1) / chunk;
  threads = std::max(1, std::min<int>(threads, nchunks));
  auto run = [&](size_t c, SearchScratch* s) {
    const size_t q0 = c * chunk;
    const size_t m = std::min(chunk, nq - q0);
    SearchChunk(queries + q0 * dim_, m, params, s, &r.ids[q0 * params.k],
                &r.distances[q0 * params.k]);
  };
  if (threads == 1) {
    std::unique_ptr<SearchScratch> s = AcquireScratch();
    for (size_t c = 0; c < nchunks; ++c) run(c, s.get());
    ReleaseScratch(std::move(s));
    return r;
  }
#pragma omp parallel num_threads(threads)
  {
    std::unique_ptr<SearchScratch> s = AcquireScratch();
#pragma omp for schedule(dynamic)
    for (size_t c = 0; c < nchunks; ++c) run(c, s.get());
    ReleaseScratch(std::move(s));
  }
  return r;
}

void IvfIndex::SearchChunk(const float* queries, size_t nq,
                           const SearchParams& params, SearchScratch* s,
                           int64_t* out_ids, float* out_distances) const {
  const Metric cm = CodecMetric(metric_);
  const int nprobe = std::min(params.nprobe, nlist());
  // Approximate (fast-scan) distances are re-scored exactly at the end; a
  // few spare candidates absorb their quantization error at the boundary.
  const bool rescore = !refine_ && scanner_->approximate();
  const int keep = refine_    ? params.k * params.refine_factor
                   : rescore ? params.k * kRescoreFactor
                             : params.k;
  const int mode = !spec_.codec.fast_scan ? kNoTables
                   : pq_tables_.nlist() > 0 ? kPerListTables
                                            : kPerQueryTables;

  // The normalised original queries (for refine), the work-space queries
  // and their constants.
  const float* raw = queries;
  if (metric_ == Metric::kCosine) {
    s->raw.assign(queries, queries + nq * dim_);
    NormalizeRows(s->raw.data(), nq, dim_);
    raw = s->raw.data();
  }
  const float* work = raw;
  s->constant.assign(nq, 0.0f);
  if (pca_) {
    s->work.resize(nq * work_dim_);
    for (size_t q = 0; q < nq; ++q) {
      s->constant[q] =
          pca_->PrepareQuery(raw + q * dim_, cm, &s->work[q * work_dim_]);
    }
    work = s->work.data();
  }

  // The lists each query probes, nearest first.
  s->probe_list.resize(nq * nprobe);
  s->probe_dist.resize(nq * nprobe);
  if (spec_.ivf_nlist == 0) {
    std::fill(s->probe_list.begin(), s->probe_list.end(), 0);
    std::fill(s->probe_dist.begin(), s->probe_dist.end(), 0.0f);
  } else {
    s->coarse.resize(nlist());
    const SimdLevel level = ActiveSimdLevel();
    // Centroids are float32 rows: the Flat codec's SIMD kernels score them.
    const auto* rows = reinterpret_cast<const uint8_t*>(centroids_.data());
    for (size_t q = 0; q < nq; ++q) {
      const float* wq = work + q * work_dim_;
      if (cm == Metric::kL2) {
        FlatL2Batch(wq, rows, nlist(), work_dim_, s->coarse.data(), level);
      } else {
        FlatInnerProductBatch(wq, rows, nlist(), work_dim_, s->coarse.data(),
                              level);
        for (float& d : s->coarse) d = -d;
      }
      SelectNearest(s->coarse.data(), nlist(), nprobe,
                    &s->probe_list[q * nprobe], &s->probe_dist[q * nprobe]);
    }
  }

  // Per-query table terms (ivf_pq_tables.h).
  if (mode != kNoTables) {
    const size_t lut_size = pq_tables_.lut_size();
    s->neg_qy.resize(nq * lut_size);
    if (mode == kPerQueryTables && s->qluts.size() < nq) s->qluts.resize(nq);
    const auto& pq = static_cast<const PqCodec&>(*codec_);
    const int M = pq.m();
    for (size_t q = 0; q < nq; ++q) {
      float* t = &s->neg_qy[q * lut_size];
      if (mode == kPerQueryTables && cm == Metric::kL2) {
        pq.ComputeLut(work + q * work_dim_, cm, t);  // flat L2: no IVF
      } else {
        pq_tables_.QueryTerms(work + q * work_dim_, t);
      }
      if (mode == kPerQueryTables) QuantizePq4Lut(t, M, &s->qluts[q]);
    }
  }

  if (s->tops.size() < nq) s->tops.resize(nq);
  for (size_t q = 0; q < nq; ++q) s->tops[q].Reset(keep);
  s->work_q = work;
  s->nprobe = nprobe;
  s->mode = mode;
  // Scan order. Probe i is query i / nprobe's (i % nprobe)-th nearest list.
  // A query scans its nearest list first, so that its top-k threshold is
  // tight early and few codes of the farther lists pass it. Alone, a query
  // scans its lists nearest first; in a batch, every query's nearest list
  // comes first, then the other probes grouped by list so that queries
  // probing the same list share its scan. Top-k does not depend on the order
  // (top_k.h), so a batch returns what single queries return.
  const size_t nprobes = nq * nprobe;
  s->order.resize(nprobes);
  size_t o = 0;
  for (int p = 0; p < nprobe; ++p) {
    for (size_t q = 0; q < nq; ++q) s->order[o++] = uint32_t(q * nprobe + p);
  }
  if (nq == 1) {
    for (int p = 0; p < nprobe; ++p) ScanProbes(p, p + 1, params, s);
  } else {
    ScanProbes(0, nq, params, s);
    ScanProbes(nq, nprobes, params, s);
  }

  for (size_t q = 0; q < nq; ++q) {
    int64_t* ids = out_ids + q * params.k;
    float* distances = out_distances + q * params.k;
    if (refine_) {
      Refine(raw + q * dim_, &s->tops[q], params.k, s, ids, distances);
    } else if (rescore) {
      Rescore(work + q * work_dim_, s->constant[q], &s->tops[q], params.k, s,
              ids, distances);
    } else {
      s->tops[q].Finish(ids, distances);
    }
  }
}

void IvfIndex::ScanProbes(size_t begin, size_t end, const SearchParams& params,
                          SearchScratch* s) const {
  if (begin >= end) return;
  const Metric cm = CodecMetric(metric_);
  const int nprobe = s->nprobe;
  const int mode = s->mode;
  // Group the probes by list (ties keep the scan order).
  const uint32_t* probes = &s->order[begin];
  const size_t n = end - begin;
  s->by_list.resize(n);
  if (n == 1) {
    s->by_list[0] = probes[0];
  } else {
    s->list_start.assign(nlist() + 1, 0);
    for (size_t i = 0; i < n; ++i) ++s->list_start[s->probe_list[probes[i]] + 1];
    for (int l = 0; l < nlist(); ++l) s->list_start[l + 1] += s->list_start[l];
    for (size_t i = 0; i < n; ++i) {
      s->by_list[s->list_start[s->probe_list[probes[i]]]++] = probes[i];
    }
  }
  const size_t lut_size = pq_tables_.lut_size();
  // Residual L2 codes of the generic scanner: the query minus the centroid.
  const bool residual_query = by_residual_ && mode == kNoTables &&
                              cm == Metric::kL2;
  // Otherwise the coarse distance is the list's share of the constant.
  const bool add_coarse = by_residual_ && !residual_query;
  if (residual_query) s->residuals.resize(ScanScratch::kGroup * work_dim_);
  s->list_queries.resize(ScanScratch::kGroup);
  for (size_t i = 0; i < n;) {
    const int32_t l = s->probe_list[s->by_list[i]];
    size_t j = i;
    while (j < n && s->probe_list[s->by_list[j]] == l) ++j;
    const InvertedList& list = lists_.list(l);
    const float* c =
        by_residual_ ? &centroids_[size_t(l) * work_dim_] : nullptr;
    for (size_t g0 = i; g0 < j && !list.ids.empty();
         g0 += ScanScratch::kGroup) {
      const int g = int(std::min<size_t>(ScanScratch::kGroup, j - g0));
      for (int t = 0; t < g; ++t) {
        const uint32_t probe = s->by_list[g0 + t];
        const size_t q = probe / nprobe;
        const float* wq = s->work_q + q * work_dim_;
        ListQuery& lq = s->list_queries[t];
        lq = ListQuery{wq, s->constant[q], &s->tops[q]};
        if (add_coarse) lq.constant += s->probe_dist[probe];
        if (mode == kPerListTables) {
          pq_tables_.QuantizedListLut(l, &s->neg_qy[q * lut_size],
                                      &s->group_qluts[t]);
          lq.qlut = &s->group_qluts[t];
        } else if (mode == kPerQueryTables) {
          lq.qlut = &s->qluts[q];
        } else if (residual_query) {
          float* rq = &s->residuals[t * work_dim_];
          for (int d = 0; d < work_dim_; ++d) rq[d] = wq[d] - c[d];
          lq.query = rq;
        }
      }
      scanner_->Scan(list, s->list_queries.data(), g, cm, params.filter,
                     &s->scan);
    }
    i = j;
  }
}

void IvfIndex::Rescore(const float* work_query, float constant, TopK* top,
                       int k, SearchScratch* s, int64_t* out_ids,
                       float* out_distances) const {
  const Metric cm = CodecMetric(metric_);
  s->cand.resize(top->k());
  s->cand_dist.resize(top->k());
  const int nc = top->TakeUnordered(s->cand.data(), s->cand_dist.data());
  s->codes.resize(codec_->code_size());
  s->decoded.resize(work_dim_);
  float* x = s->decoded.data();
  TopK& final_top = s->final_top;
  final_top.Reset(k);
  for (int i = 0; i < nc; ++i) {
    size_t l = 0, pos = 0;
    if (!lists_.Locate(s->cand[i], &l, &pos)) continue;
    lists_.GetCode(l, pos, s->codes.data());
    // The exact codec distance: reconstruct in the work space and compare.
    codec_->Decode(s->codes.data(), 1, x);
    if (by_residual_) {
      const float* c = &centroids_[l * work_dim_];
      for (int j = 0; j < work_dim_; ++j) x[j] += c[j];
    }
    const float d = cm == Metric::kL2 ? L2(work_query, x, work_dim_)
                                      : -Dot(work_query, x, work_dim_);
    final_top.Push(d + constant, s->cand[i]);
  }
  final_top.Finish(out_ids, out_distances);
}

void IvfIndex::Refine(const float* query, TopK* top, int k, SearchScratch* s,
                      int64_t* out_ids, float* out_distances) const {
  const Metric cm = CodecMetric(metric_);
  s->cand.resize(top->k());
  s->cand_dist.resize(top->k());
  const int nc = top->TakeUnordered(s->cand.data(), s->cand_dist.data());
  const size_t rcs = refine_->code_size();
  auto rqd = refine_->MakeQueryDistance(query, cm);
  TopK& final_top = s->final_top;
  final_top.Reset(k);
  // The candidates' codes, gathered into one buffer (from RAM, or from the
  // source, e.g. disk) and scored in one call. Gathering is a loop of
  // independent copies, so the out-of-order core overlaps the candidates'
  // cache misses; a prefetch a few candidates ahead helps it across
  // iterations.
  s->codes.resize(nc * rcs);
  s->found.assign(nc, true);
  s->exact.resize(nc);
  if (refine_source_) {
    refine_source_->Fetch(s->cand.data(), nc, s->codes.data(), &s->found);
  } else {
    constexpr int kAhead = 8;
    const uint8_t* base = refine_codes_.data();
    const size_t size = refine_codes_.size();
    auto prefetch = [&](int i) {
      const size_t off = size_t(s->cand[i]) * rcs;
      if (off + rcs > size) return;
      for (size_t b = 0; b < rcs; b += 64) __builtin_prefetch(base + off + b);
    };
    for (int i = 0; i < std::min(nc, kAhead); ++i) prefetch(i);
    for (int i = 0; i < nc; ++i) {
      if (i + kAhead < nc) prefetch(i + kAhead);
      const size_t off = size_t(s->cand[i]) * rcs;
      // Ids beyond the codes held were never added with a refine code.
      if (off + rcs <= size) {
        std::memcpy(&s->codes[i * rcs], base + off, rcs);
      } else {
        std::memset(&s->codes[i * rcs], 0, rcs);
        s->found[i] = false;
      }
    }
  }
  rqd->Distances(s->codes.data(), nc, s->exact.data());
  for (int i = 0; i < nc; ++i) {
    if (s->found[i]) final_top.Push(s->exact[i], s->cand[i]);
  }
  final_top.Finish(out_ids, out_distances);
}

// --- Read-only access for the GPU index (index/gpu/) ---

IvfIndex::ModelView IvfIndex::model_view() const {
  return ModelView{&spec_,       dim_,          work_dim_,     metric_,
                   by_residual_, &centroids_,   codec_.get(),  refine_.get()};
}

size_t IvfIndex::list_length(size_t l) const {
  std::shared_lock lock(mu_);
  return lists_.list(l).ids.size();
}

void IvfIndex::ReadList(size_t l, size_t from, std::vector<int64_t>* ids,
                        std::vector<uint8_t>* codes) const {
  std::shared_lock lock(mu_);
  const InvertedList& list = lists_.list(l);
  const size_t n = list.ids.size() > from ? list.ids.size() - from : 0;
  const size_t cs = codec_->code_size();
  ids->assign(list.ids.begin() + (list.ids.size() - n), list.ids.end());
  codes->resize(n * cs);
  for (size_t i = 0; i < n; ++i) {
    lists_.GetCode(l, from + i, codes->data() + i * cs);
  }
}

bool IvfIndex::LocateId(int64_t id, size_t* list, size_t* pos) const {
  std::shared_lock lock(mu_);
  return lists_.Locate(id, list, pos);
}

void IvfIndex::PrepareQueries(const float* queries, size_t nq,
                              std::vector<float>* raw, std::vector<float>* work,
                              std::vector<float>* constant) const {
  raw->assign(queries, queries + nq * dim_);
  if (metric_ == Metric::kCosine) NormalizeRows(raw->data(), nq, dim_);
  constant->assign(nq, 0.0f);
  if (!pca_) {
    *work = *raw;
    return;
  }
  work->resize(nq * work_dim_);
  for (size_t q = 0; q < nq; ++q) {
    (*constant)[q] = pca_->PrepareQuery(raw->data() + q * dim_,
                                        CodecMetric(metric_),
                                        work->data() + q * work_dim_);
  }
}

void IvfIndex::ReRank(const float* raw_query, const float* work_query,
                      float constant, const int64_t* candidates, int n, int k,
                      int64_t* ids, float* distances) const {
  std::shared_lock lock(mu_);
  std::unique_ptr<SearchScratch> s = AcquireScratch();
  TopK top(std::max(n, 1));
  for (int i = 0; i < n; ++i) {
    if (candidates[i] >= 0) top.Push(0.0f, candidates[i]);
  }
  if (refine_) {
    Refine(raw_query, &top, k, s.get(), ids, distances);
  } else {
    Rescore(work_query, constant, &top, k, s.get(), ids, distances);
  }
  ReleaseScratch(std::move(s));
}

std::string IvfIndex::SerializeModel() const {
  ByteWriter w;
  w.Put(kModelMagic);
  w.Put(kModelVersion);
  w.PutString(spec_.ToString());
  w.Put<int32_t>(dim_);
  w.Put<int32_t>(int32_t(metric_));
  if (pca_) pca_->SaveState(&w);
  w.PutArray(centroids_);
  w.PutString(SerializeCodec(*codec_));
  if (refine_) w.PutString(SerializeCodec(*refine_));
  return w.Release();
}

absl::Status IvfIndex::LoadModel(std::string_view bytes) {
  ByteReader r(bytes);
  uint32_t magic = 0, version = 0;
  RETURN_IF_ERROR(r.Get(&magic));
  if (magic != kModelMagic) {
    return absl::DataLossError("bytes are not a qvdb index model");
  }
  RETURN_IF_ERROR(r.Get(&version));
  if (version > kModelVersion) {
    return absl::FailedPreconditionError(fmt::format(
        "index model has format version {}, this qvdb reads up to {}: "
        "upgrade qvdb",
        version, kModelVersion));
  }
  std::string spec;
  int32_t dim = 0, metric = 0;
  RETURN_IF_ERROR(r.GetString(&spec));
  RETURN_IF_ERROR(r.Get(&dim));
  RETURN_IF_ERROR(r.Get(&metric));
  if (spec != spec_.ToString() || dim != dim_ || metric != int32_t(metric_)) {
    return absl::FailedPreconditionError(fmt::format(
        "model is for {} (dim {}), this index is {} (dim {})", spec, dim,
        spec_.ToString(), dim_));
  }
  if (pca_) RETURN_IF_ERROR(pca_->LoadState(&r));
  std::vector<float> centroids;
  RETURN_IF_ERROR(r.GetArray(
      &centroids, spec_.ivf_nlist > 0 ? size_t(nlist()) * work_dim_ : 0));
  std::string codec_bytes;
  RETURN_IF_ERROR(r.GetString(&codec_bytes));
  ASSIGN_OR_RETURN(std::unique_ptr<Codec> codec, DeserializeCodec(codec_bytes));
  std::unique_ptr<Codec> refine;
  if (refine_) {
    std::string refine_bytes;
    RETURN_IF_ERROR(r.GetString(&refine_bytes));
    ASSIGN_OR_RETURN(refine, DeserializeCodec(refine_bytes));
  }
  if (codec->spec() != codec_->spec() ||
      (refine && refine->spec() != refine_->spec())) {
    return absl::DataLossError("index model's codecs do not match its spec");
  }
  centroids_ = std::move(centroids);
  coarse_trained_ = true;
  codec_ = std::move(codec);
  scanner_ = MakeScanner(spec_, *codec_);
  BuildPqTables();
  if (refine) refine_ = std::move(refine);
  return absl::OkStatus();
}

}  // namespace qvdb
