// PRIVATE header (index/ internal): how IvfIndex scores the codes of one
// inverted list against one or several queries.
//
// Three strategies behind one interface: the generic scanner asks the codec
// for a QueryDistance (works for every codec), the 4-bit fast scanner runs
// the SIMD kernels of pq4_fast_scan.h on lists stored in 32-code blocks, and
// the RaBitQ scanner rotates each query once and centres it per list (and
// scores 1-bit codes in 32-code blocks with the same kernels). All
// skip removed slots (id -1) and ids the filter excludes before a candidate
// reaches top-k. The generic scanner pushes exact codec distances; the fast
// scanner pushes its de-quantized 16-bit sums (approximate(); within
// pq4_fast_scan.h's error bound), and IvfIndex re-scores the final
// candidates exactly (Refine codec, or the codec's own distance).
//
// The fast scanner fills a query's empty top-k from its first list best
// codes first (all values computed, the k-th found by counting), then scans
// in chunks of ScanScratch::kChunk codes with a 16-bit threshold derived
// from top-k's: few codes reach top-k, whose result does not depend on the
// order candidates arrive in (top_k.h).
//
// Thread safety: scanners are immutable; Scan may run on many threads.
#pragma once

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "index/codec.h"
#include "index/search/id_filter.h"
#include "index/ivf/inverted_lists.h"
#include "index/kernels/pq4_fast_scan.h"
#include "index/codecs/product_quantizer.h"
#include "index/codecs/rabitq_codec.h"
#include "index/search/top_k.h"

namespace qvdb {

// One query's view of one list: the query as the codec sees it (already
// transformed and, for residual codes, minus the list's centroid), the
// constant added to every distance, and where its candidates go.
struct ListQuery {
  const float* query;
  float constant;
  TopK* top;
  // Fast scanner only, both optional: the query's M x 16 float table for
  // this list, or that table already quantized (IVF builds it from
  // precomputed terms, ivf_pq_tables.h). qlut wins over lut, lut over
  // computing the table from `query`.
  const float* lut = nullptr;
  const QuantizedLut* qlut = nullptr;
  // Scanners with per-query data (ListScanner::prep_size() > 0): this
  // query's, from PrepareQueries; and the list being scanned.
  const float* prep = nullptr;
  int32_t list = 0;
};

// Buffers a scanner reuses across lists and queries, so the hot path does
// not allocate once they have grown. One per search thread.
struct ScanScratch {
  static constexpr int kGroup = 8;  // queries sharing one pass over a list
  // Codes the fast scanner scans between top-k threshold updates: the
  // threshold tightens often (fewer survivors to push) while each kernel
  // call still covers a few blocks.
  static constexpr size_t kChunk = 128;
  // Codes of a list the fast scanner looks at all at once to fill an empty
  // top-k (a multiple of kChunk).
  static constexpr size_t kPrimeCodes = 1024;
  ScanScratch()
      : ids(kGroup * kChunk),
        values(kGroup * kChunk),
        prime_values(kPrimeCodes + 32),
        prime_order(kPrimeCodes) {}

  std::vector<float> distances;  // generic scanner
  // PruneCandidates: the candidates' intervals, one code, the centred
  // query's length per list.
  std::vector<float> cand_radius, cand_upper;
  std::vector<uint8_t> code;
  std::vector<std::pair<int32_t, float>> list_norms;
  std::vector<float> lut;        // fast scanner: a table built from a query
  // RaBitQ scanner: a centred query quantized, its 1-bit block table, and a
  // chunk's kernel values.
  RaBitQCodec::QuantizedQuery rabitq_query;
  std::vector<uint8_t> rabitq_table;
  std::vector<uint16_t> block_values;
  QuantizedLut qluts[kGroup];    // fast scanner: tables quantized here
  std::vector<uint32_t> ids;     // fast scanner: survivors, kGroup rows
  std::vector<uint16_t> values;
  std::vector<uint16_t> prime_values;
  std::vector<uint32_t> prime_order;
};

class ListScanner {
 public:
  virtual ~ListScanner() = default;
  // Scores every live code of `list` for each of the nq queries.
  virtual void Scan(const InvertedList& list, const ListQuery* queries,
                    int nq, Metric metric, const IdFilter* filter,
                    ScanScratch* scratch) const = 0;
  // True when pushed distances are approximations (the fast scanner's 16-bit
  // sums, within pq4_fast_scan.h's error bound) that the caller re-scores.
  virtual bool approximate() const { return false; }
  // Floats of per-query data the scanner computes once for all the lists a
  // query probes (0: none), and computing them for nq work-space queries
  // into prep (nq x prep_size()).
  virtual size_t prep_size() const { return 0; }
  virtual void PrepareQueries(const float* /*queries*/, size_t /*nq*/,
                              float* /*prep*/) const {}
  // True when Scan takes the work-space query of residual L2 codes as it is
  // and centres it by ListQuery::list itself.
  virtual bool centres_residual_queries() const { return false; }
  // For scanners whose estimates carry an error bound (RaBitQ): compacts
  // one query's n candidates (ids and the distances Scan estimated; prep:
  // its PrepareQueries data) to those whose interval reaches below the k-th
  // smallest upper end, so Refine reads fewer codes, and returns how many
  // remain. Others keep every candidate.
  virtual size_t PruneCandidates(const float* /*prep*/, Metric /*metric*/,
                                 int /*k*/, const InvertedLists& /*lists*/,
                                 int64_t* /*ids*/, float* /*dist*/, size_t n,
                                 ScanScratch* /*scratch*/) const {
    return n;
  }
};

// Offers one scanned code to top: skipped when removed (id -1), when its
// distance cannot enter, or when the filter excludes it. The threshold
// first: a filter's test may be a cache miss (a column value per
// candidate).
inline void PushCandidate(TopK* top, const IdFilter* filter, int64_t id,
                          float distance) {
  if (id < 0 || !(distance <= top->threshold())) return;
  if (filter && !filter->Contains(id)) return;
  top->Push(distance, id);
}

// Scores every code of `list` with qd (codes of code_size bytes) in chunks
// and pushes them, plus lq.constant, to lq.top, skipping removed slots and
// filtered ids; scratch->distances holds a chunk.
inline void ScoreList(const QueryDistance& qd, const InvertedList& list,
                      size_t code_size, const ListQuery& lq,
                      const IdFilter* filter, ScanScratch* scratch) {
  constexpr size_t kChunk = 256;
  const size_t n = list.ids.size();
  std::vector<float>& dist = scratch->distances;
  dist.resize(std::min(kChunk, n));
  for (size_t start = 0; start < n; start += kChunk) {
    const size_t m = std::min(kChunk, n - start);
    qd.Distances(list.codes.data() + start * code_size, m, dist.data());
    for (size_t i = 0; i < m; ++i) {
      PushCandidate(lq.top, filter, list.ids[start + i], dist[i] + lq.constant);
    }
  }
}

std::unique_ptr<ListScanner> MakeGenericScanner(const Codec& codec);
// The lists must use ListLayout::kPq4Blocks; pq must have 4-bit codes.
std::unique_ptr<ListScanner> MakePq4FastScanner(const PqCodec& pq);
// RaBitQ codes (rabitq_scanner.cc): each query is rotated once, not once per
// list. centroids: nlist x codec.dim() when the codes are residuals to them,
// else null (nlist 0). blocks: the lists are 1-bit codes in
// ListLayout::kPq4Blocks of RaBitQ1FastScanM(dim) sub-quantizers. codec must
// be trained.
std::unique_ptr<ListScanner> MakeRaBitQScanner(const RaBitQCodec& codec,
                                               const float* centroids,
                                               int nlist, bool blocks);

}  // namespace qvdb
