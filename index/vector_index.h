// VectorIndex: what storage and the server see of an in-memory index.
//
// An index is built from a spec (index_spec.h): optional PCA, optional IVF
// partitioning, a codec for the codes kept in RAM, and an optional Refine
// codec whose finer codes re-score candidates. Ids are the caller's dense
// internal ids (int64, >= 0); the collection engine maps user ids to them.
//
// Life: Create -> Train -> Add/Remove/Search in any order. Adding after
// training appends to the lists; nothing is rebuilt.
//
// Thread safety: Search may run on many threads at once while one writer
// calls Add/Remove; a search sees each added vector entirely or not at all.
// Train and LoadModel must not race with anything.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/search/flat_search.h"
#include "index/search/id_filter.h"
#include "index/codecs/index_spec.h"
#include "index/metric.h"

namespace qvdb {

// Per-call search knobs; never stored on the shared index (STYLE.md §4).
struct SearchParams {
  int k = 10;
  // Lists scanned per query (IVF only). Default: 8; clamped to nlist.
  int nprobe = 8;
  // With a Refine codec: k * refine_factor candidates are re-scored by the
  // last stage. Default: 4. 1 re-scores only the k found.
  int refine_factor = 4;
  // With two Refine stages: the RAM tier re-scores k * ram_refine_factor
  // scan candidates and passes the best k * refine_factor on. Default: 16;
  // below refine_factor it counts as refine_factor.
  int ram_refine_factor = 16;
  // Only ids the filter contains are returned (nullptr: all). Not owned.
  const IdFilter* filter = nullptr;
  // Threads for a batch of queries (0: all cores). A single query uses one.
  int num_threads = 0;
  // RaBitQ codes with Refine (no PCA): candidates whose error interval lies
  // wholly above the k-th smallest upper end are not re-scored (about 94%
  // intervals, rabitq_codec.h). Off: every candidate is (for comparison).
  bool prune_by_error_bound = true;
};

// What the index stores per vector, produced by Encode and accepted by
// AddEncoded: storage keeps these bytes so a restart needs no re-encoding.
struct EncodedVectors {
  size_t n = 0;
  std::vector<int32_t> lists;         // list of each vector (0 without IVF)
  std::vector<uint8_t> codes;         // n * code_size()
  std::vector<uint8_t> ram_refine_codes;  // n * ram_refine_code_size()
  std::vector<uint8_t> refine_codes;  // n * refine_code_size(), or empty
};

// Supplies refine codes kept outside the index (e.g. on disk in storage/).
// Called from search threads at once: implementations must be thread-safe.
class RefineCodeSource {
 public:
  virtual ~RefineCodeSource() = default;
  // Writes the refine code of each id to out + i * code_size; returns false
  // for an id it does not hold (the candidate is then dropped).
  virtual void Fetch(const int64_t* ids, size_t n, uint8_t* out,
                     std::vector<bool>* found) const = 0;
};

class VectorIndex {
 public:
  virtual ~VectorIndex() = default;

  virtual const IndexSpec& spec() const = 0;
  virtual int dim() const = 0;
  virtual Metric metric() const = 0;
  virtual bool is_trained() const = 0;
  virtual size_t min_train_size() const = 0;
  // Vectors currently searchable (added and not removed).
  virtual size_t size() const = 0;
  // Bytes per vector of the codes kept in RAM (not counting refine codes).
  virtual size_t code_size() const = 0;
  // Bytes per vector of the RAM re-ranking tier (0 without one) and of the
  // last Refine stage (0 without Refine).
  virtual size_t ram_refine_code_size() const = 0;
  virtual size_t refine_code_size() const = 0;
  // Bytes of RAM in use by lists, ids, models and refine codes held here
  // (the RAM tier's always; the last stage's unless a source supplies them).
  virtual size_t memory_bytes() const = 0;

  // Trains every model (PCA, coarse centroids, codec, refine codec).
  virtual absl::Status Train(const float* x, size_t n) = 0;
  // Encodes without adding: what storage persists (see EncodedVectors).
  virtual absl::StatusOr<EncodedVectors> Encode(const float* x,
                                                size_t n) const = 0;
  // Appends encoded vectors under the given ids. An id already present is
  // replaced (upsert).
  virtual absl::Status AddEncoded(const int64_t* ids,
                                  const EncodedVectors& encoded) = 0;
  // Encode + AddEncoded.
  virtual absl::Status Add(const int64_t* ids, const float* x, size_t n) = 0;
  // Sizes the id maps and RAM codes for ids [first, last] at once: a load
  // that knows the range adds ids in list order, not id order, and would
  // otherwise grow them at both ends again and again. Compact trims them.
  virtual void ReserveIds(int64_t first, int64_t last) = 0;
  // Removes ids from results at once; ids not present are ignored.
  virtual void Remove(const int64_t* ids, size_t n) = 0;
  // Reclaims the memory of removed vectors. Blocks searches while it runs.
  virtual void Compact() = 0;

  virtual absl::StatusOr<SearchResults> Search(
      const float* queries, size_t nq, const SearchParams& params) const = 0;

  // The k nearest of the rows `ids` only, for a filter that few rows pass:
  // every one of them is scored, by the first Refine stage's codes (the RAM
  // tier) when the spec has Refine, else by the codec's exact distance,
  // then re-ranked by the stages after it as a search's candidates are.
  // Ids the index does not hold are skipped. Costs a code read per row, so
  // callers keep `ids` to the few (docs/filter.md).
  virtual absl::StatusOr<SearchResults> SearchAmong(
      const float* queries, size_t nq, std::span<const int64_t> ids,
      const SearchParams& params) const = 0;

  // For each query, how many of `ids` lie in the nprobe lists a search
  // with that nprobe would scan (ids the index does not hold are not
  // counted). A filtered search asks it of a sample of the rows that pass,
  // to learn before it scans whether they lie where it would look
  // (docs/filter.md). Costs the lists' choice and an id-map read an id.
  virtual absl::StatusOr<std::vector<uint32_t>> CountInProbedLists(
      const float* queries, size_t nq, std::span<const int64_t> ids,
      int nprobe) const = 0;

  // Refine codes then come from `source` instead of RAM (nullptr: RAM).
  virtual void SetRefineCodeSource(const RefineCodeSource* source) = 0;

  // Trained models (PCA, centroids, codecs), self-describing and versioned.
  virtual std::string SerializeModel() const = 0;
  virtual absl::Status LoadModel(std::string_view bytes) = 0;
};

// Candidates per query the scan keeps for re-ranking: k * ram_refine_factor
// (at least k * refine_factor) with a RAM tier, k * refine_factor with one
// Refine stage, k without Refine.
int ScanCandidates(const IndexSpec& spec, const SearchParams& params);

// Builds an untrained index for vectors of `dim` dimensions.
absl::StatusOr<std::unique_ptr<VectorIndex>> CreateVectorIndex(
    const IndexSpec& spec, int dim, Metric metric);

}  // namespace qvdb
