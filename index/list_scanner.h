// PRIVATE header (index/ internal): how IvfIndex scores the codes of one
// inverted list against one or several queries.
//
// Two strategies behind one interface: the generic scanner asks the codec for
// a QueryDistance (works for every codec), the 4-bit fast scanner runs the
// SIMD kernels of pq4_fast_scan.h on lists stored in 32-code blocks. Both
// skip removed slots (id -1) and ids the filter excludes before a candidate
// reaches top-k. The generic scanner pushes exact codec distances; the fast
// scanner pushes its de-quantized 16-bit sums (approximate()), and IvfIndex
// re-scores the survivors exactly.
//
// Thread safety: scanners are immutable; Scan may run on many threads.
#pragma once

#include <memory>
#include <vector>

#include "index/codec.h"
#include "index/id_filter.h"
#include "index/inverted_lists.h"
#include "index/pq4_fast_scan.h"
#include "index/product_quantizer.h"
#include "index/top_k.h"

namespace qvdb {

// One query's view of one list: the query as the codec sees it (already
// transformed and, for residual codes, minus the list's centroid), the
// constant added to every distance, and where its candidates go.
struct ListQuery {
  const float* query;
  float constant;
  TopK* top;
  // Fast scanner only: the query's M x 16 table for this list when the
  // caller built it already (IVF's precomputed residual terms); else null.
  const float* lut = nullptr;
};

// Buffers a scanner reuses across lists and queries, so the hot path does
// not allocate. One per search thread.
struct ScanScratch {
  std::vector<float> distances;  // generic scanner
  std::vector<float> luts;       // fast scanner: float tables, nq x M x 16
  std::vector<QuantizedLut> qluts;
  std::vector<const uint8_t*> tables;
  std::vector<uint32_t> ids;
  std::vector<uint16_t> values;
  std::vector<uint32_t*> id_rows;
  std::vector<uint16_t*> value_rows;
  std::vector<uint16_t> thresholds;
  std::vector<size_t> counts;
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
};

std::unique_ptr<ListScanner> MakeGenericScanner(const Codec& codec);
// The lists must use ListLayout::kPq4Blocks; pq must have 4-bit codes.
std::unique_ptr<ListScanner> MakePq4FastScanner(const PqCodec& pq);

}  // namespace qvdb
