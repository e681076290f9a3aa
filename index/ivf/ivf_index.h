// PRIVATE header: callers use vector_index.h (CreateVectorIndex).
//
// IvfIndex implements VectorIndex for every spec: optional PCA, then IVF
// lists (a single list when the spec has no IVF, i.e. flat search), codes in
// the layout their scanner wants, and optional re-ranking with a finer codec
// kept in the original space.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <shared_mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "index/codec.h"
#include "index/ivf/id_codes.h"
#include "index/ivf/inverted_lists.h"
#include "index/ivf/ivf_pq_tables.h"
#include "index/ivf/list_scanner.h"
#include "index/codecs/pca_transform.h"
#include "index/vector_index.h"

namespace qvdb {

class IvfIndex final : public VectorIndex {
 public:
  ~IvfIndex() override;
  static absl::StatusOr<std::unique_ptr<IvfIndex>> Create(const IndexSpec& spec,
                                                          int dim,
                                                          Metric metric);

  const IndexSpec& spec() const override { return spec_; }
  int dim() const override { return dim_; }
  Metric metric() const override { return metric_; }
  bool is_trained() const override;
  size_t min_train_size() const override;
  size_t size() const override;
  size_t code_size() const override { return codec_->code_size(); }
  size_t ram_refine_code_size() const override {
    return ram_refine_ ? ram_refine_->code_size() : 0;
  }
  size_t refine_code_size() const override {
    return refine_ ? refine_->code_size() : 0;
  }
  size_t memory_bytes() const override;
  // Bytes the pooled search scratches hold (bounded: a scratch that grew
  // past 4 MiB in a large search is freed, not pooled).
  size_t pooled_scratch_bytes() const;

  absl::Status Train(const float* x, size_t n) override;
  absl::StatusOr<EncodedVectors> Encode(const float* x,
                                        size_t n) const override;
  absl::Status AddEncoded(const int64_t* ids,
                          const EncodedVectors& encoded) override;
  absl::Status Add(const int64_t* ids, const float* x, size_t n) override;
  void ReserveIds(int64_t first, int64_t last) override;
  void Remove(const int64_t* ids, size_t n) override;
  void Compact() override;
  absl::StatusOr<SearchResults> Search(
      const float* queries, size_t nq,
      const SearchParams& params) const override;
  absl::StatusOr<SearchResults> SearchAmong(
      const float* queries, size_t nq, std::span<const int64_t> ids,
      const SearchParams& params) const override;
  absl::StatusOr<std::vector<uint32_t>> CountInProbedLists(
      const float* queries, size_t nq, std::span<const int64_t> ids,
      int nprobe) const override;
  void SetRefineCodeSource(const RefineCodeSource* source) override;
  std::string SerializeModel() const override;
  absl::Status LoadModel(std::string_view bytes) override;

  // --- Read-only access for the GPU index (index/gpu/) ---
  // What the GPU copies of the models need. The pointers stay valid until
  // Train or LoadModel; they do not change while vectors are added.
  struct ModelView {
    const IndexSpec* spec;
    int dim;
    int work_dim;
    Metric metric;
    bool by_residual;
    const std::vector<float>* centroids;  // nlist x work_dim; empty if flat
    const Codec* codec;                   // work space
    const Codec* refine;                  // may be null
    const Codec* ram_refine;              // may be null
  };
  ModelView model_view() const;
  // Ids (-1: removed) and codes (code_size() bytes each, PqCodec packing
  // also for the 4-bit fast-scan layout) of list l from position `from` on.
  void ReadList(size_t l, size_t from, std::vector<int64_t>* ids,
                std::vector<uint8_t>* codes) const;
  size_t list_length(size_t l) const;  // slots, tombstones included
  // Where a live id is (list, position); false when absent.
  bool LocateId(int64_t id, size_t* list, size_t* pos) const;
  // The search's query preparation: normalised queries (cosine), the
  // work-space queries (after PCA) and PCA's per-query constants.
  void PrepareQueries(const float* queries, size_t nq, std::vector<float>* raw,
                      std::vector<float>* work,
                      std::vector<float>* constant) const;
  // The CPU search's last step for candidates found elsewhere (the GPU):
  // re-scores them with the Refine stages (the RAM tier keeping
  // k * refine_factor), or else with the codec's exact distance, and keeps
  // the k best.
  void ReRank(const float* raw_query, const float* work_query, float constant,
              const int64_t* candidates, int n, int k, int refine_factor,
              int64_t* ids, float* distances) const;

 private:
  IvfIndex(const IndexSpec& spec, int dim, Metric metric,
           std::unique_ptr<Codec> codec, std::unique_ptr<Codec> ram_refine,
           std::unique_ptr<Codec> refine);

  int nlist() const { return std::max(1, spec_.ivf_nlist); }
  // Normalises (cosine) and applies PCA: the vectors the lists are built in.
  std::vector<float> ToWorkSpace(const float* x, size_t n) const;
  // Nearest centroid (L2) of each of n work-space vectors.
  std::vector<int32_t> Assign(const float* work, size_t n) const;
  // Buffers one search thread reuses (ivf_index.cc), from a pool so that a
  // search allocates nothing but its results once the pool is warm.
  struct SearchScratch;
  std::unique_ptr<SearchScratch> AcquireScratch() const;
  // Pools the scratch unless it grew too large (then it is freed).
  void ReleaseScratch(std::unique_ptr<SearchScratch> scratch) const;
  // Bytes a scratch holds (its buffers' capacities).
  static size_t ScratchBytes(const SearchScratch& s);
  // The queries as the lists see them, and the lists each probes: s->raw
  // (normalised; cosine only), s->work (after PCA), s->constant, and
  // s->probe_list / s->probe_dist (nprobe <= nlist() a query, nearest
  // first). *raw and *work point at the queries to use (`queries` itself
  // when nothing changes them).
  void ChooseProbes(const float* queries, size_t nq, int nprobe,
                    SearchScratch* s, const float** raw,
                    const float** work) const;
  // Searches nq queries: each query's nearest list first, then the other
  // probes grouped by list (one scan for all the queries probing a list).
  void SearchChunk(const float* queries, size_t nq, const SearchParams& params,
                   SearchScratch* s, int64_t* ids, float* distances) const;
  // Scans the probes s->order[begin, end) (indices into the probe arrays),
  // grouped by list so that queries probing the same list share its scan.
  void ScanProbes(size_t begin, size_t end, const SearchParams& params,
                  SearchScratch* s) const;
  // Re-scores candidates (ids the lists hold; others are skipped) with the
  // codec's exact distance (by decoding their codes in the work space);
  // keeps k.
  void Rescore(const float* work_query, float constant,
               std::span<const int64_t> cand, int k, SearchScratch* s,
               int64_t* ids, float* distances) const;
  // Re-scores candidates with the Refine stages: the RAM tier (if any)
  // keeps k * refine_factor for the last stage, which keeps k. `cand` may
  // be s->cand. held_after_ram_tier: `cand` may hold ids the lists no
  // longer hold (removed since; their RAM codes remain), and the RAM
  // tier's survivors are checked before the last stage.
  void Refine(const float* query, std::span<const int64_t> cand, int k,
              int refine_factor, SearchScratch* s, int64_t* ids,
              float* distances, bool held_after_ram_tier = false) const;
  // One stage: re-scores `cand` with `codec`, reading their codes from
  // `source` when set, else from `codes`; pushes onto *out. Candidates
  // without a code are dropped. Returns how many it re-scored.
  int RefineStage(const Codec& codec, const IdCodes& codes,
                  const RefineCodeSource* source, const float* query,
                  std::span<const int64_t> cand, SearchScratch* s,
                  TopK* out) const;
  // SearchAmong's work, under the shared lock.
  void ScoreAmong(const float* queries, size_t nq,
                  std::span<const int64_t> ids, const SearchParams& params,
                  SearchResults* r) const;
  // Cosine vectors keep unit length in the codec's space unless PCA or
  // residual coding changes them (Codec::AssumeUnitVectors).
  bool UnitVectorsInWorkSpace() const {
    return metric_ == Metric::kCosine && spec_.pca_dim == 0 && !by_residual_;
  }
  // Rebuilds pq_tables_ from the trained codec and centroids.
  void BuildPqTables();
  absl::Status CheckQueryable(size_t nq, const SearchParams& params) const;

  const IndexSpec spec_;
  const int dim_;
  const Metric metric_;
  const int work_dim_;
  const bool by_residual_;
  std::unique_ptr<PcaTransform> pca_;     // null without PCA
  std::unique_ptr<Codec> codec_;          // codes in RAM, work space
  std::unique_ptr<Codec> ram_refine_;     // original space, may be null
  std::unique_ptr<Codec> refine_;         // original space, may be null
  std::unique_ptr<ListScanner> scanner_;  // reads lists_ in their layout
  std::vector<float> centroids_;          // nlist x work_dim; empty if flat
  // Fast scan: the look-up tables' per-model terms (ivf_pq_tables.h).
  PqIvfTables pq_tables_;
  bool coarse_trained_ = false;

  // Guards the lists, the id map and the refine codes: searches hold it
  // shared, Add/Remove/Compact exclusive (only while they touch memory;
  // encoding happens before taking it).
  mutable std::shared_mutex mu_;
  InvertedLists lists_;
  // Re-ranking codes by id; Compact trims them to the live ids. The last
  // stage's stay empty while a source supplies them.
  IdCodes ram_refine_codes_;
  IdCodes refine_codes_;
  const RefineCodeSource* refine_source_ = nullptr;

  // Search buffers not in use; a search takes one per thread and gives it
  // back, so concurrent searches never share one.
  mutable std::mutex scratch_mu_;
  mutable std::vector<std::unique_ptr<SearchScratch>> scratch_pool_
      ABSL_GUARDED_BY(scratch_mu_);
};

}  // namespace qvdb
