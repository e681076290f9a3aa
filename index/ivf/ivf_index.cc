#include "index/ivf/ivf_index.h"

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>

#include "base/status_macros.h"
#include "index/codecs/codec_factory.h"
#include "index/ivf/ivf_index_internal.h"
#include "index/ivf/ivf_search_scratch.h"
#include "index/kernels/pq4_fast_scan.h"
#include "index/kernels/scalar_distance_kernels.h"
#include "index/kernels/select_nearest.h"
#include "index/kernels/simd_level.h"
#include "index/search/top_k.h"

namespace qvdb {

absl::StatusOr<std::unique_ptr<VectorIndex>> CreateVectorIndex(
    const IndexSpec& spec, int dim, Metric metric) {
  ASSIGN_OR_RETURN(auto index, IvfIndex::Create(spec, dim, metric));
  return std::unique_ptr<VectorIndex>(std::move(index));
}

int ScanCandidates(const IndexSpec& spec, const SearchParams& params) {
  if (!spec.refine) return params.k;
  const int factor =
      spec.ram_refine ? std::max(params.ram_refine_factor, params.refine_factor)
                      : params.refine_factor;
  return params.k * factor;
}

absl::StatusOr<std::unique_ptr<IvfIndex>> IvfIndex::Create(
    const IndexSpec& spec, int dim, Metric metric) {
  if (dim <= 0) {
    return absl::InvalidArgumentError(
        fmt::format("dimension must be positive, got {}", dim));
  }
  if (spec.pca_dim > dim) {
    return absl::InvalidArgumentError(
        fmt::format("PCA{} cannot reduce {} dimensions: use at most PCA{}",
                    spec.pca_dim, dim, dim));
  }
  const int work_dim = spec.pca_dim > 0 ? spec.pca_dim : dim;
  ASSIGN_OR_RETURN(std::unique_ptr<Codec> codec,
                   MakeCodec(spec.codec, work_dim));
  std::unique_ptr<Codec> ram_refine, refine;
  if (spec.ram_refine && !spec.refine) {
    return absl::InvalidArgumentError(
        "a RAM refine stage needs a last Refine stage after it");
  }
  if (spec.ram_refine) {
    ASSIGN_OR_RETURN(ram_refine, MakeCodec(*spec.ram_refine, dim));
  }
  if (spec.refine) {
    ASSIGN_OR_RETURN(refine, MakeCodec(*spec.refine, dim));
  }
  return std::unique_ptr<IvfIndex>(
      new IvfIndex(spec, dim, metric, std::move(codec), std::move(ram_refine),
                   std::move(refine)));
}

IvfIndex::IvfIndex(const IndexSpec& spec, int dim, Metric metric,
                   std::unique_ptr<Codec> codec,
                   std::unique_ptr<Codec> ram_refine,
                   std::unique_ptr<Codec> refine)
    : spec_(spec),
      dim_(dim),
      metric_(metric),
      work_dim_(spec.pca_dim > 0 ? spec.pca_dim : dim),
      by_residual_(UsesResidual(spec)),
      codec_(std::move(codec)),
      ram_refine_(std::move(ram_refine)),
      refine_(std::move(refine)),
      lists_(std::max(1, spec.ivf_nlist), codec_->code_size(),
             BlockSubQuantizers(spec, *codec_) > 0 ? ListLayout::kPq4Blocks
                                                   : ListLayout::kPacked,
             BlockSubQuantizers(spec, *codec_)),
      ram_refine_codes_(ram_refine_ ? ram_refine_->code_size() : 0),
      refine_codes_(refine_ ? refine_->code_size() : 0) {
  if (UnitVectorsInWorkSpace()) codec_->AssumeUnitVectors();
  scanner_ = MakeScanner(spec_, *codec_, centroids_);
  if (spec.pca_dim > 0) {
    pca_ = std::make_unique<PcaTransform>(dim, spec.pca_dim, spec.pca_rotation);
  }
  coarse_trained_ = spec.ivf_nlist == 0;
}

bool IvfIndex::is_trained() const {
  return coarse_trained_ && (!pca_ || pca_->is_trained()) &&
         codec_->is_trained() && (!refine_ || refine_->is_trained()) &&
         (!ram_refine_ || ram_refine_->is_trained());
}

size_t IvfIndex::min_train_size() const {
  size_t n = std::max<size_t>(codec_->min_train_size(), spec_.ivf_nlist);
  if (refine_) n = std::max(n, refine_->min_train_size());
  if (ram_refine_) n = std::max(n, ram_refine_->min_train_size());
  if (pca_) n = std::max<size_t>(n, spec_.pca_dim);
  return std::max<size_t>(n, 1);
}

size_t IvfIndex::size() const {
  std::shared_lock lock(mu_);
  return lists_.size();
}

size_t IvfIndex::memory_bytes() const {
  std::shared_lock lock(mu_);
  return lists_.memory_bytes() + ram_refine_codes_.memory_bytes() +
         refine_codes_.memory_bytes() +
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
    return absl::InvalidArgumentError(
        fmt::format("{} needs at least {} training vectors, got {}",
                    spec_.ToString(), min_train_size(), n));
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
  std::vector<float> work = pca_ ? std::vector<float>(sample * work_dim_) : raw;
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
  scanner_ = MakeScanner(spec_, *codec_, centroids_);
  BuildPqTables();
  if (ram_refine_) RETURN_IF_ERROR(ram_refine_->Train(raw.data(), sample));
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
  if (by_residual_) {
    RETURN_IF_ERROR(codec_->EncodeResiduals(work.data(), n, centroids_.data(),
                                            out.lists.data(),
                                            out.codes.data()));
  } else {
    RETURN_IF_ERROR(codec_->Encode(work.data(), n, out.codes.data()));
  }
  if (refine_) {
    std::vector<float> raw(x, x + n * dim_);
    if (metric_ == Metric::kCosine) NormalizeRows(raw.data(), n, dim_);
    if (ram_refine_) {
      out.ram_refine_codes.resize(n * ram_refine_->code_size());
      RETURN_IF_ERROR(
          ram_refine_->Encode(raw.data(), n, out.ram_refine_codes.data()));
    }
    out.refine_codes.resize(n * refine_->code_size());
    RETURN_IF_ERROR(refine_->Encode(raw.data(), n, out.refine_codes.data()));
  }
  return out;
}

absl::Status IvfIndex::AddEncoded(const int64_t* ids,
                                  const EncodedVectors& enc) {
  const size_t cs = codec_->code_size();
  const size_t rcs = refine_code_size();
  const size_t mcs = ram_refine_code_size();
  if (enc.lists.size() != enc.n || enc.codes.size() != enc.n * cs ||
      enc.ram_refine_codes.size() != enc.n * mcs ||
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
    if (mcs > 0) {
      ram_refine_codes_.Put(ids[i], enc.ram_refine_codes.data() + i * mcs);
    }
    if (rcs > 0 && !enc.refine_codes.empty()) {
      refine_codes_.Put(ids[i], enc.refine_codes.data() + i * rcs);
    }
  }
  return absl::OkStatus();
}

absl::Status IvfIndex::Add(const int64_t* ids, const float* x, size_t n) {
  ASSIGN_OR_RETURN(EncodedVectors enc, Encode(x, n));
  return AddEncoded(ids, enc);
}

void IvfIndex::ReserveIds(int64_t first, int64_t last) {
  if (first < 0 || first > last) return;
  std::unique_lock lock(mu_);
  lists_.ReserveIds(first, last);
  ram_refine_codes_.Reserve(first, last);
  if (refine_ && refine_source_ == nullptr) refine_codes_.Reserve(first, last);
}

void IvfIndex::Remove(const int64_t* ids, size_t n) {
  std::unique_lock lock(mu_);
  for (size_t i = 0; i < n; ++i) lists_.Remove(ids[i]);
}

void IvfIndex::Compact() {
  std::unique_lock lock(mu_);
  lists_.Compact();
  // Refine codes of the live ids only (removed rows' codes stay until now).
  int64_t first = 0, last = -1;
  if (!lists_.LiveIdRange(&first, &last)) {
    ram_refine_codes_.Clear();
    refine_codes_.Clear();
    return;
  }
  ram_refine_codes_.Trim(first, last);
  refine_codes_.Trim(first, last);
}

void IvfIndex::SetRefineCodeSource(const RefineCodeSource* source) {
  std::unique_lock lock(mu_);
  refine_source_ = source;
  if (source) refine_codes_.Clear();
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
  if (params.ram_refine_factor <= 0) {
    return absl::InvalidArgumentError(
        fmt::format("ram_refine_factor must be positive, got {}",
                    params.ram_refine_factor));
  }
  return absl::OkStatus();
}

// --- Read-only access for the GPU index (index/gpu/) ---

IvfIndex::ModelView IvfIndex::model_view() const {
  return ModelView{&spec_,        dim_,           work_dim_,
                   metric_,       by_residual_,   &centroids_,
                   codec_.get(),  refine_.get(),  ram_refine_.get()};
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
    (*constant)[q] =
        pca_->PrepareQuery(raw->data() + q * dim_, CodecMetric(metric_),
                           work->data() + q * work_dim_);
  }
}

void IvfIndex::ReRank(const float* raw_query, const float* work_query,
                      float constant, const int64_t* candidates, int n, int k,
                      int refine_factor, int64_t* ids,
                      float* distances) const {
  std::shared_lock lock(mu_);
  std::unique_ptr<SearchScratch> s = AcquireScratch();
  s->among.clear();
  for (int i = 0; i < n; ++i) {
    if (candidates[i] >= 0) s->among.push_back(candidates[i]);
  }
  if (refine_) {
    Refine(raw_query, s->among, k, refine_factor, s.get(), ids, distances);
  } else {
    Rescore(work_query, constant, s->among, k, s.get(), ids, distances);
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
  if (ram_refine_) w.PutString(SerializeCodec(*ram_refine_));
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
    return absl::FailedPreconditionError(
        fmt::format("model is for {} (dim {}), this index is {} (dim {})", spec,
                    dim, spec_.ToString(), dim_));
  }
  if (pca_) RETURN_IF_ERROR(pca_->LoadState(&r));
  std::vector<float> centroids;
  RETURN_IF_ERROR(r.GetArray(
      &centroids, spec_.ivf_nlist > 0 ? size_t(nlist()) * work_dim_ : 0));
  // Residuals to larger centroids overflow the codecs' float sums
  // (kMaxCodedValue); k-means on stored vectors never makes one.
  for (float c : centroids) {
    if (!std::isfinite(c) || std::fabs(c) > kMaxCodedValue) {
      return absl::DataLossError(fmt::format(
          "index model holds a centroid value {:g} (finite and within "
          "+-{:g} expected); the model is damaged: restore the data "
          "directory from a snapshot or train again",
          c, kMaxCodedValue));
    }
  }
  std::string codec_bytes;
  RETURN_IF_ERROR(r.GetString(&codec_bytes));
  ASSIGN_OR_RETURN(std::unique_ptr<Codec> codec, DeserializeCodec(codec_bytes));
  // The next codec of the model, when this index has one there.
  auto read_codec =
      [&](const Codec* want) -> absl::StatusOr<std::unique_ptr<Codec>> {
    if (want == nullptr) return std::unique_ptr<Codec>();
    std::string bytes;
    RETURN_IF_ERROR(r.GetString(&bytes));
    return DeserializeCodec(bytes);
  };
  ASSIGN_OR_RETURN(std::unique_ptr<Codec> ram_refine,
                   read_codec(ram_refine_.get()));
  ASSIGN_OR_RETURN(std::unique_ptr<Codec> refine, read_codec(refine_.get()));
  if (codec->spec() != codec_->spec() ||
      (ram_refine && ram_refine->spec() != ram_refine_->spec()) ||
      (refine && refine->spec() != refine_->spec())) {
    return absl::DataLossError("index model's codecs do not match its spec");
  }
  // The spec string does not name the dimension (PQ8x8 fits 64-d and
  // 128-d): a codec of another dimension or code size would read and
  // write out of bounds.
  auto shape_error = [&](std::string_view which, const Codec& got,
                         const Codec& want) -> absl::Status {
    if (got.dim() == want.dim() && got.code_size() == want.code_size()) {
      return absl::OkStatus();
    }
    return absl::DataLossError(fmt::format(
        "index model's {} codec {} is for {} dimensions and {}-byte codes, "
        "this index needs {} dimensions and {}-byte codes; the model is "
        "damaged or from another collection",
        which, got.spec(), got.dim(), got.code_size(), want.dim(),
        want.code_size()));
  };
  RETURN_IF_ERROR(shape_error("coarse", *codec, *codec_));
  if (ram_refine) {
    RETURN_IF_ERROR(shape_error("RAM refine", *ram_refine, *ram_refine_));
  }
  if (refine) RETURN_IF_ERROR(shape_error("refine", *refine, *refine_));
  // A model is only ever stored trained; an untrained codec (PQ or RQ
  // without centroids) would be searched with empty tables.
  if (!codec->is_trained() || (refine && !refine->is_trained()) ||
      (ram_refine && !ram_refine->is_trained()) ||
      (pca_ && !pca_->is_trained())) {
    return absl::DataLossError(
        "index model holds an untrained codec or PCA; the model is damaged: "
        "restore the data directory from a snapshot or train again");
  }
  centroids_ = std::move(centroids);
  coarse_trained_ = true;
  if (UnitVectorsInWorkSpace()) codec->AssumeUnitVectors();
  codec_ = std::move(codec);
  scanner_ = MakeScanner(spec_, *codec_, centroids_);
  BuildPqTables();
  if (ram_refine) ram_refine_ = std::move(ram_refine);
  if (refine) refine_ = std::move(refine);
  return absl::OkStatus();
}

}  // namespace qvdb
