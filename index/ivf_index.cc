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
#include "index/simd_level.h"
#include "index/status_macros.h"
#include "index/top_k.h"

namespace qvdb {
namespace {

constexpr uint32_t kModelMagic = 0x58495651;  // "QVIX"
constexpr uint32_t kModelVersion = 1;
constexpr size_t kQueryChunk = 64;     // queries sharing each list's scan
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
         centroids_.capacity() * sizeof(float);
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
  BuildPq4Terms();
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

void IvfIndex::BuildPq4Terms() {
  pq4_terms_.clear();
  if (!spec_.codec.fast_scan || !by_residual_ || metric_ != Metric::kL2) {
    return;
  }
  const auto& pq = static_cast<const PqCodec&>(*codec_);
  const int M = pq.m(), dsub = pq.dsub();
  pq4_terms_.resize(size_t(nlist()) * M * 16);
  for (int l = 0; l < nlist(); ++l) {
    const float* c = &centroids_[size_t(l) * work_dim_];
    for (int j = 0; j < M; ++j) {
      for (int k = 0; k < 16; ++k) {
        const float* y = pq.centroid(j, k);
        pq4_terms_[(size_t(l) * M + j) * 16 + k] =
            Dot(y, y, dsub) + 2 * Dot(c + j * dsub, y, dsub);
      }
    }
  }
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
#pragma omp parallel for num_threads(threads) schedule(dynamic) if (threads > 1)
  for (size_t c = 0; c < nchunks; ++c) {
    const size_t q0 = c * chunk;
    const size_t m = std::min(chunk, nq - q0);
    SearchChunk(queries + q0 * dim_, m, params, &r.ids[q0 * params.k],
                &r.distances[q0 * params.k]);
  }
  return r;
}

void IvfIndex::SearchChunk(const float* queries, size_t nq,
                           const SearchParams& params, int64_t* out_ids,
                           float* out_distances) const {
  const Metric cm = CodecMetric(metric_);
  const int nprobe = std::min(params.nprobe, nlist());
  // Approximate (fast-scan) distances are re-scored exactly at the end; a
  // few spare candidates absorb their quantization error at the boundary.
  const bool rescore = !refine_ && scanner_->approximate();
  const int keep = refine_    ? params.k * params.refine_factor
                   : rescore ? params.k * kRescoreFactor
                             : params.k;

  // Per query: the normalised original query (for refine), the work-space
  // query, its constant, and the lists to probe.
  std::vector<float> raw(queries, queries + nq * dim_);
  if (metric_ == Metric::kCosine) NormalizeRows(raw.data(), nq, dim_);
  std::vector<float> work(nq * work_dim_);
  std::vector<float> constant(nq, 0.0f);
  for (size_t q = 0; q < nq; ++q) {
    if (pca_) {
      constant[q] = pca_->PrepareQuery(&raw[q * dim_], cm, &work[q * work_dim_]);
    } else {
      std::copy_n(&raw[q * dim_], dim_, &work[q * work_dim_]);
    }
  }
  // probes_of_list[l]: the chunk's queries that probe list l.
  std::vector<std::vector<uint32_t>> probes_of_list(nlist());
  std::vector<std::pair<float, int>> coarse(nlist());
  std::vector<float> coarse_dist(nlist());
  const SimdLevel level = ActiveSimdLevel();
  for (size_t q = 0; q < nq; ++q) {
    if (spec_.ivf_nlist == 0) {
      probes_of_list[0].push_back(q);
      continue;
    }
    const float* wq = &work[q * work_dim_];
    // Centroids are float32 rows: the Flat codec's SIMD kernels score them.
    const auto* rows = reinterpret_cast<const uint8_t*>(centroids_.data());
    if (cm == Metric::kL2) {
      FlatL2Batch(wq, rows, nlist(), work_dim_, coarse_dist.data(), level);
    } else {
      FlatInnerProductBatch(wq, rows, nlist(), work_dim_, coarse_dist.data(),
                            level);
      for (float& d : coarse_dist) d = -d;
    }
    for (int l = 0; l < nlist(); ++l) coarse[l] = {coarse_dist[l], l};
    std::partial_sort(coarse.begin(), coarse.begin() + nprobe, coarse.end());
    for (int p = 0; p < nprobe; ++p) probes_of_list[coarse[p].second].push_back(q);
  }

  // Precomputed residual tables: -<q, y> per query, once.
  const bool use_terms = !pq4_terms_.empty();
  const int lut_size = use_terms ? static_cast<const PqCodec&>(*codec_).m() * 16 : 0;
  std::vector<float> neg_qy(use_terms ? nq * lut_size : 0);
  std::vector<float> list_luts;
  if (use_terms) {
    const auto& pq = static_cast<const PqCodec&>(*codec_);
    for (size_t q = 0; q < nq; ++q) {
      pq.ComputeLut(&work[q * work_dim_], Metric::kInnerProduct,
                    &neg_qy[q * lut_size]);
    }
  }

  std::vector<TopK> tops(nq, TopK(keep));
  ScanScratch scratch;
  std::vector<ListQuery> list_queries;
  std::vector<float> residuals;
  for (int l = 0; l < nlist(); ++l) {
    const std::vector<uint32_t>& qs = probes_of_list[l];
    const InvertedList& list = lists_.list(l);
    if (qs.empty() || list.ids.empty()) continue;
    list_queries.clear();
    residuals.resize(qs.size() * work_dim_);
    const float* c = by_residual_ ? &centroids_[size_t(l) * work_dim_] : nullptr;
    if (use_terms) list_luts.resize(qs.size() * lut_size);
    for (size_t i = 0; i < qs.size(); ++i) {
      const float* wq = &work[size_t(qs[i]) * work_dim_];
      ListQuery lq{wq, constant[qs[i]], &tops[qs[i]]};
      if (use_terms) {
        const float* terms = &pq4_terms_[size_t(l) * lut_size];
        const float* nqy = &neg_qy[size_t(qs[i]) * lut_size];
        float* lut = &list_luts[i * lut_size];
        for (int e = 0; e < lut_size; ++e) lut[e] = terms[e] + 2 * nqy[e];
        lq.lut = lut;
        lq.constant += L2(wq, c, work_dim_);
      } else if (c && cm == Metric::kL2) {
        float* rq = &residuals[i * work_dim_];
        for (int j = 0; j < work_dim_; ++j) rq[j] = wq[j] - c[j];
        lq.query = rq;
      } else if (c) {
        lq.constant -= Dot(wq, c, work_dim_);
      }
      list_queries.push_back(lq);
    }
    scanner_->Scan(list, list_queries.data(), int(list_queries.size()), cm,
                   params.filter, &scratch);
  }

  for (size_t q = 0; q < nq; ++q) {
    int64_t* ids = out_ids + q * params.k;
    float* distances = out_distances + q * params.k;
    if (refine_) {
      Refine(&raw[q * dim_], &tops[q], keep, params.k, ids, distances);
    } else if (rescore) {
      Rescore(&work[q * work_dim_], constant[q], &tops[q], keep, params.k,
              ids, distances);
    } else {
      tops[q].Finish(ids, distances);
    }
  }
}

void IvfIndex::Rescore(const float* work_query, float constant, TopK* top,
                       int keep, int k, int64_t* out_ids,
                       float* out_distances) const {
  const Metric cm = CodecMetric(metric_);
  std::vector<int64_t> cand(keep);
  std::vector<float> cand_dist(keep);
  top->Finish(cand.data(), cand_dist.data());
  std::vector<uint8_t> code(codec_->code_size());
  std::vector<float> x(work_dim_);
  TopK final_top(k);
  for (int i = 0; i < keep && cand[i] >= 0; ++i) {
    size_t l = 0, pos = 0;
    if (!lists_.Locate(cand[i], &l, &pos)) continue;
    lists_.GetCode(l, pos, code.data());
    // The exact codec distance: reconstruct in the work space and compare.
    codec_->Decode(code.data(), 1, x.data());
    if (by_residual_) {
      const float* c = &centroids_[l * work_dim_];
      for (int j = 0; j < work_dim_; ++j) x[j] += c[j];
    }
    const float d = cm == Metric::kL2 ? L2(work_query, x.data(), work_dim_)
                                      : -Dot(work_query, x.data(), work_dim_);
    final_top.Push(d + constant, cand[i]);
  }
  final_top.Finish(out_ids, out_distances);
}

void IvfIndex::Refine(const float* query, TopK* top, int keep, int k,
                      int64_t* out_ids, float* out_distances) const {
  const Metric cm = CodecMetric(metric_);
  std::vector<int64_t> cand(keep);
  std::vector<float> cand_dist(keep);
  top->Finish(cand.data(), cand_dist.data());
  size_t nc = 0;
  while (nc < cand.size() && cand[nc] >= 0) ++nc;
  const size_t rcs = refine_->code_size();
  std::vector<uint8_t> codes(nc * rcs);
  std::vector<bool> found(nc, true);
  if (refine_source_) {
    refine_source_->Fetch(cand.data(), nc, codes.data(), &found);
  } else {
    for (size_t i = 0; i < nc; ++i) {
      const size_t off = size_t(cand[i]) * rcs;
      found[i] = off + rcs <= refine_codes_.size();
      if (found[i]) std::memcpy(&codes[i * rcs], &refine_codes_[off], rcs);
    }
  }
  auto rqd = refine_->MakeQueryDistance(query, cm);
  std::vector<float> exact(nc);
  rqd->Distances(codes.data(), nc, exact.data());
  TopK final_top(k);
  for (size_t i = 0; i < nc; ++i) {
    if (found[i]) final_top.Push(exact[i], cand[i]);
  }
  final_top.Finish(out_ids, out_distances);
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
  BuildPq4Terms();
  if (refine) refine_ = std::move(refine);
  return absl::OkStatus();
}

}  // namespace qvdb
