// PRIVATE header (index/ internal): how IvfIndex scores the codes of one
// inverted list against one or several queries.
//
// Two strategies behind one interface: the generic scanner asks the codec for
// a QueryDistance (works for every codec), the 4-bit fast scanner runs the
// SIMD kernels of pq4_fast_scan.h on lists stored in 32-code blocks. Both
// skip removed slots (id -1) and ids the filter excludes before a candidate
// reaches top-k, and both push exact codec distances (the fast scanner uses
// its 16-bit sums only to discard codes that cannot make the top-k).
//
// Thread safety: scanners are immutable; Scan may run on many threads.
#pragma once

#include <memory>

#include "index/codec.h"
#include "index/id_filter.h"
#include "index/inverted_lists.h"
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
};

class ListScanner {
 public:
  virtual ~ListScanner() = default;
  // Scores every live code of `list` for each of the nq queries.
  virtual void Scan(const InvertedList& list, const ListQuery* queries,
                    int nq, Metric metric, const IdFilter* filter) const = 0;
};

std::unique_ptr<ListScanner> MakeGenericScanner(const Codec& codec);
// The lists must use ListLayout::kPq4Blocks; pq must have 4-bit codes.
std::unique_ptr<ListScanner> MakePq4FastScanner(const PqCodec& pq);

}  // namespace qvdb
