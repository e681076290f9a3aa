#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <new>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <utility>
#include <vector>

#include "base/status_macros.h"
#include "index/codecs/codec_factory.h"
#include "index/ivf/ivf_index.h"
#include "index/ivf/ivf_index_internal.h"
#include "index/ivf/ivf_search_scratch.h"
#include "index/kernels/pq4_fast_scan.h"
#include "index/kernels/scalar_distance_kernels.h"
#include "index/kernels/select_nearest.h"
#include "index/kernels/simd_level.h"
#include "index/search/top_k.h"

namespace qvdb {

namespace {

// How the fast scanner gets its tables (none for the generic scanner).
enum TableMode : int {
  kNoTables = 0,
  kPerListTables = 1,   // residual L2: a table per (query, list)
  kPerQueryTables = 2,  // inner product or no IVF: one table per query
};

// Scratch buffers kept for reuse; more threads than this allocate their own.
constexpr size_t kMaxPooledScratch = 64;
// A scratch grows with k x refine_factor, nq and nlist. One that grew past
// this after a large search is freed rather than pooled, so the pool holds
// at most kMaxPooledScratch x kMaxPooledScratchBytes (256 MiB) for good,
// not 64 times the largest search ever made.
constexpr size_t kMaxPooledScratchBytes = size_t{4} << 20;

template <typename T>
size_t Bytes(const std::vector<T>& v) {
  return v.capacity() * sizeof(T);
}

// The first exception thrown by any thread of a search, kept as a status.
// Thread-safe.
class SearchFailure {
 public:
  template <typename Fn>
  void Guard(Fn&& fn) {
    try {
      fn();
    } catch (const std::bad_alloc&) {
      Set(true, "out of memory");
    } catch (const std::exception& e) {
      Set(false, e.what());
    } catch (...) {
      Set(false, "an unknown exception");
    }
  }
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  absl::Status status(size_t nq) const {
    if (!failed()) return absl::OkStatus();
    std::lock_guard lock(mu_);
    const std::string msg = fmt::format(
        "the search of {} queries failed: {}; {}", nq, what_,
        out_of_memory_ ? "ask for fewer queries or a smaller k" : "report it");
    return out_of_memory_ ? absl::ResourceExhaustedError(msg)
                          : absl::InternalError(msg);
  }

 private:
  void Set(bool out_of_memory, const char* what) {
    std::lock_guard lock(mu_);
    if (failed_.exchange(true)) return;
    out_of_memory_ = out_of_memory;
    what_ = what;
  }
  mutable std::mutex mu_;
  std::atomic<bool> failed_{false};
  bool out_of_memory_ = false;
  std::string what_;
};

}  // namespace

void SelectNearest(const float* dist, int n, int nprobe, int32_t* lists,
                   float* dists) {
  // Measured, 1024 lists: insertion 11 us at nprobe 80 against 13, and
  // 46 us at 266 against 21 (151 against 44 at 800).
  constexpr int kInsertionMaxProbes = 128;
  if (nprobe <= kInsertionMaxProbes) {
    int have = 0;
    for (int l = 0; l < n; ++l) {
      InsertNearest(dist[l], l, nprobe, &have, lists, dists);
    }
    return;
  }
  std::vector<std::pair<float, int32_t>> order(static_cast<size_t>(n));
  for (int l = 0; l < n; ++l) {
    const float d = dist[l];
    order[size_t(l)] = {std::isnan(d) ? std::numeric_limits<float>::infinity() : d, l};
  }
  nprobe = std::min(nprobe, n);
  if (nprobe < n) {
    std::nth_element(order.begin(), order.begin() + (nprobe - 1), order.end());
  }
  std::sort(order.begin(), order.begin() + nprobe);
  for (int i = 0; i < nprobe; ++i) {
    lists[i] = order[size_t(i)].second;
    dists[i] = dist[size_t(lists[i])];
  }
}

IvfIndex::~IvfIndex() = default;

std::unique_ptr<IvfIndex::SearchScratch> IvfIndex::AcquireScratch() const {
  {
    std::lock_guard lock(scratch_mu_);
    if (!scratch_pool_.empty()) {
      std::unique_ptr<SearchScratch> s = std::move(scratch_pool_.back());
      scratch_pool_.pop_back();
      // Counts a ReRank (GPU path) left behind belong to no search.
      s->ram_refine_scored = s->refine_scored = 0;
      return s;
    }
  }
  return std::make_unique<SearchScratch>();
}

size_t IvfIndex::ScratchBytes(const SearchScratch& s) {
  // A TopK keeps about kCapacityFactor (2) x k 16-byte keys.
  constexpr size_t kTopKBytesPerK = 32;
  size_t tops = 0;
  for (const TopK& t : s.tops) tops += size_t(t.k()) * kTopKBytesPerK;
  return Bytes(s.raw) + Bytes(s.work) + Bytes(s.constant) + Bytes(s.coarse) +
         Bytes(s.probe_list) + Bytes(s.probe_dist) + Bytes(s.order) +
         Bytes(s.by_list) + Bytes(s.list_start) + Bytes(s.neg_qy) +
         Bytes(s.qluts) + Bytes(s.residuals) + Bytes(s.list_queries) +
         Bytes(s.tops) + tops + Bytes(s.scan.distances) + Bytes(s.scan.lut) +
         Bytes(s.scan.ids) + Bytes(s.scan.values) +
         Bytes(s.scan.prime_values) + Bytes(s.scan.prime_order) +
         Bytes(s.among) + Bytes(s.cand) + Bytes(s.cand_dist) +
         Bytes(s.exact) + Bytes(s.decoded) + Bytes(s.codes) +
         s.found.capacity() / 8 +
         size_t(s.middle_top.k() + s.final_top.k()) * kTopKBytesPerK;
}

size_t IvfIndex::pooled_scratch_bytes() const {
  std::lock_guard lock(scratch_mu_);
  size_t bytes = 0;
  for (const auto& s : scratch_pool_) bytes += ScratchBytes(*s);
  return bytes;
}

void IvfIndex::ReleaseScratch(std::unique_ptr<SearchScratch> scratch) const {
  if (ScratchBytes(*scratch) > kMaxPooledScratchBytes) return;  // freed
  std::lock_guard lock(scratch_mu_);
  if (scratch_pool_.size() < kMaxPooledScratch) {
    scratch_pool_.push_back(std::move(scratch));
  }
}

absl::StatusOr<SearchResults> IvfIndex::Search(
    const float* queries, size_t nq, const SearchParams& params) const {
  RETURN_IF_ERROR(CheckQueryable(nq, params));
  RETURN_IF_ERROR(CheckFinite(queries, nq, dim_));
  SearchResults r = SearchResults::Empty(nq, params.k);
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
  // An exception (bad_alloc above all) must not leave an OpenMP region or
  // this call: it would terminate the server. The first becomes the error.
  SearchFailure failure;
  // Each thread's Refine counts, added up when it gives its scratch back.
  std::atomic<uint64_t> ram_refine_scored{0}, refine_scored{0};
  auto take_counts = [&](SearchScratch* s) {
    ram_refine_scored += std::exchange(s->ram_refine_scored, 0);
    refine_scored += std::exchange(s->refine_scored, 0);
  };
  if (threads == 1) {
    failure.Guard([&] {
      std::unique_ptr<SearchScratch> s = AcquireScratch();
      for (size_t c = 0; c < nchunks; ++c) run(c, s.get());
      take_counts(s.get());
      ReleaseScratch(std::move(s));
    });
  } else {
#pragma omp parallel num_threads(threads)
    {
      failure.Guard([&] {
        std::unique_ptr<SearchScratch> s = AcquireScratch();
#pragma omp for schedule(dynamic)
        for (size_t c = 0; c < nchunks; ++c) {
          failure.Guard([&] {
            if (!failure.failed()) run(c, s.get());
          });
        }
        take_counts(s.get());
        ReleaseScratch(std::move(s));
      });
    }
  }
  r.ram_refine_scored = ram_refine_scored;
  r.refine_scored = refine_scored;
  RETURN_IF_ERROR(failure.status(nq));
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
  const int keep = refine_   ? ScanCandidates(spec_, params)
                   : rescore ? params.k * kRescoreFactor
                             : params.k;
  const int mode = !spec_.codec.fast_scan   ? kNoTables
                   : pq_tables_.nlist() > 0 ? kPerListTables
                                            : kPerQueryTables;

  const float* raw = nullptr;
  const float* work = nullptr;
  ChooseProbes(queries, nq, nprobe, s, &raw, &work);

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

  // Per-query scanner data (the RaBitQ scanner's rotated queries).
  if (const size_t ps = scanner_->prep_size(); ps > 0) {
    s->prep.resize(nq * ps);
    scanner_->PrepareQueries(work, nq, s->prep.data());
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
      std::span<const int64_t> cand = s->TakeCandidates(&s->tops[q]);
      // The error bounds hold for the work space's distances, which under
      // PCA leave out each vector's own energy outside the subspace.
      if (!pca_ && params.prune_by_error_bound) {
        cand = cand.first(scanner_->PruneCandidates(
            s->prep.data() + q * scanner_->prep_size(), cm, params.k, lists_,
            s->cand.data(), s->cand_dist.data(), cand.size(), &s->scan));
      }
      Refine(raw + q * dim_, cand, params.k, params.refine_factor, s, ids,
             distances);
    } else if (rescore) {
      Rescore(work + q * work_dim_, s->constant[q],
              s->TakeCandidates(&s->tops[q]), params.k, s, ids, distances);
    } else {
      s->tops[q].Finish(ids, distances);
    }
  }
}

void IvfIndex::ChooseProbes(const float* queries, size_t nq, int nprobe,
                            SearchScratch* s, const float** raw,
                            const float** work) const {
  const Metric cm = CodecMetric(metric_);
  // The normalised original queries (for refine), the work-space queries
  // and their constants.
  *raw = queries;
  if (metric_ == Metric::kCosine) {
    s->raw.assign(queries, queries + nq * dim_);
    NormalizeRows(s->raw.data(), nq, dim_);
    *raw = s->raw.data();
  }
  *work = *raw;
  s->constant.assign(nq, 0.0f);
  if (pca_) {
    s->work.resize(nq * work_dim_);
    for (size_t q = 0; q < nq; ++q) {
      s->constant[q] =
          pca_->PrepareQuery(*raw + q * dim_, cm, &s->work[q * work_dim_]);
    }
    *work = s->work.data();
  }

  // The lists each query probes, nearest first.
  s->probe_list.resize(nq * nprobe);
  s->probe_dist.resize(nq * nprobe);
  if (spec_.ivf_nlist == 0) {
    std::fill(s->probe_list.begin(), s->probe_list.end(), 0);
    std::fill(s->probe_dist.begin(), s->probe_dist.end(), 0.0f);
  } else {
    const size_t nl = size_t(nlist());
    s->coarse.resize(nq * nl);
    const SimdLevel level = ActiveSimdLevel();
    // Centroids are float32 rows: the Flat codec's SIMD kernels score them,
    // a block of centroids for every query of the chunk at a time (at
    // 1024 x 768 they are 3 MiB, read once a chunk instead of once a query;
    // a query's distances do not depend on its batch).
    const auto* rows = reinterpret_cast<const uint8_t*>(centroids_.data());
    if (cm == Metric::kL2) {
      FlatL2Multi(*work, nq, rows, nl, work_dim_, s->coarse.data(), level);
    } else {
      FlatInnerProductMulti(*work, nq, rows, nl, work_dim_, s->coarse.data(),
                            level);
      for (float& d : s->coarse) d = -d;
    }
    for (size_t q = 0; q < nq; ++q) {
      SelectNearest(&s->coarse[q * nl], nlist(), nprobe,
                    &s->probe_list[q * nprobe], &s->probe_dist[q * nprobe]);
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
    for (size_t i = 0; i < n; ++i)
      ++s->list_start[s->probe_list[probes[i]] + 1];
    for (int l = 0; l < nlist(); ++l) s->list_start[l + 1] += s->list_start[l];
    for (size_t i = 0; i < n; ++i) {
      s->by_list[s->list_start[s->probe_list[probes[i]]]++] = probes[i];
    }
  }
  const size_t lut_size = pq_tables_.lut_size();
  // Residual L2 codes scored against the query minus the centroid (the
  // generic scanner takes it from here, the RaBitQ one centres it itself).
  const bool residual_l2 =
      by_residual_ && mode == kNoTables && cm == Metric::kL2;
  const bool residual_query =
      residual_l2 && !scanner_->centres_residual_queries();
  // Otherwise the coarse distance is the list's share of the constant.
  const bool add_coarse = by_residual_ && !residual_l2;
  const size_t prep_size = scanner_->prep_size();
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
        lq.list = l;
        if (prep_size > 0) lq.prep = &s->prep[q * prep_size];
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

void IvfIndex::Rescore(const float* work_query, float constant,
                       std::span<const int64_t> cand, int k, SearchScratch* s,
                       int64_t* out_ids, float* out_distances) const {
  const Metric cm = CodecMetric(metric_);
  s->codes.resize(codec_->code_size());
  s->decoded.resize(work_dim_);
  float* x = s->decoded.data();
  TopK& final_top = s->final_top;
  final_top.Reset(k);
  for (int64_t id : cand) {
    size_t l = 0, pos = 0;
    if (!lists_.Locate(id, &l, &pos)) continue;
    lists_.GetCode(l, pos, s->codes.data());
    // The exact codec distance: reconstruct in the work space and compare.
    codec_->Decode(s->codes.data(), 1, x);
    if (by_residual_) {
      const float* c = &centroids_[l * work_dim_];
      for (int j = 0; j < work_dim_; ++j) x[j] += c[j];
    }
    const float d = cm == Metric::kL2 ? L2(work_query, x, work_dim_)
                                      : -Dot(work_query, x, work_dim_);
    final_top.Push(d + constant, id);
  }
  final_top.Finish(out_ids, out_distances);
}

void IvfIndex::Refine(const float* query, std::span<const int64_t> cand,
                      int k, int refine_factor, SearchScratch* s,
                      int64_t* out_ids, float* out_distances,
                      bool held_after_ram_tier) const {
  TopK& final_top = s->final_top;
  final_top.Reset(k);
  if (ram_refine_) {
    // The RAM tier narrows the candidates to the few the last stage
    // (possibly on disk) reads.
    TopK& middle = s->middle_top;
    middle.Reset(k * refine_factor);
    s->ram_refine_scored += RefineStage(*ram_refine_, ram_refine_codes_,
                                        nullptr, query, cand, s, &middle);
    std::span<const int64_t> next = s->TakeCandidates(&middle);
    if (held_after_ram_tier) {  // compacted in place (next is s->cand)
      size_t kept = 0;
      for (int64_t id : next) {
        if (lists_.Contains(id)) s->cand[kept++] = id;
      }
      next = next.first(kept);
    }
    s->refine_scored += RefineStage(*refine_, refine_codes_, refine_source_,
                                    query, next, s, &final_top);
  } else {
    s->refine_scored += RefineStage(*refine_, refine_codes_, refine_source_,
                                    query, cand, s, &final_top);
  }
  final_top.Finish(out_ids, out_distances);
}

int IvfIndex::RefineStage(const Codec& codec, const IdCodes& codes,
                          const RefineCodeSource* source, const float* query,
                          std::span<const int64_t> all, SearchScratch* s,
                          TopK* out) const {
  const int nc = int(all.size());
  const size_t rcs = codec.code_size();
  auto rqd = codec.MakeQueryDistance(query, CodecMetric(metric_));
  // The candidates' codes, gathered into one buffer (from RAM, or from the
  // source, e.g. disk) and scored in one call per chunk (chunks bound the
  // buffer when SearchAmong passes many rows). Gathering is a loop of
  // independent copies, so the out-of-order core overlaps the candidates'
  // cache misses; a prefetch a few candidates ahead helps it across
  // iterations.
  constexpr int kChunk = 4096;
  for (int begin = 0; begin < nc; begin += kChunk) {
    const int n = std::min(kChunk, nc - begin);
    const int64_t* cand = &all[begin];
    s->codes.resize(n * rcs);
    s->found.assign(n, true);
    s->exact.resize(n);
    if (source) {
      source->Fetch(cand, n, s->codes.data(), &s->found);
    } else {
      constexpr int kAhead = 24;
      for (int i = 0; i < std::min(n, kAhead); ++i) codes.Prefetch(cand[i]);
      for (int i = 0; i < n; ++i) {
        if (i + kAhead < n) codes.Prefetch(cand[i + kAhead]);
        // Ids outside the codes held were never added with a refine code.
        if (const uint8_t* code = codes.Get(cand[i])) {
          std::memcpy(&s->codes[i * rcs], code, rcs);
        } else {
          std::memset(&s->codes[i * rcs], 0, rcs);
          s->found[i] = false;
        }
      }
    }
    rqd->Distances(s->codes.data(), n, s->exact.data());
    for (int i = 0; i < n; ++i) {
      if (s->found[i]) out->Push(s->exact[i], cand[i]);
    }
  }
  return nc;
}

}  // namespace qvdb
