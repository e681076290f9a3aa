// PRIVATE header (index/ internal): the per-query look-up tables of an IVF
// index over PQ codes, built from terms computed once per model (what Faiss
// calls "precomputed tables").
//
// With residual codes (a vector is its list's centroid c plus y) the L2 table
// entry of sub-quantizer j, centroid k, for query q and list l is
//   ||q_j - c_j - y_jk||^2 =   ||q - c||^2 summed over j: the coarse
//                              distance, a per-list constant
//                            + ||y_jk||^2 + 2 <c_j, y_jk>   per list, Build
//                            - 2 <q_j, y_jk>                per query
// so a list's table costs one add per entry instead of M x 16 sub-vector
// distances. For inner product the table -<q_j, y_jk> is the same for every
// list (-<q, c> is the list's constant), so it is computed once per query.
// The sums differ from PqCodec::ComputeLut on the residual query only by
// float rounding (ivf_pq_tables_test.cc bounds it).
//
// Thread safety: Build must not race with anything; the const methods may
// run on many threads.
#pragma once

#include <cstddef>
#include <vector>

#include "index/kernels/pq4_fast_scan.h"
#include "index/codecs/product_quantizer.h"

namespace qvdb {

class PqIvfTables {
 public:
  // centroids: nlist x pq.dim() floats (the IVF centroids), or nlist 0 for
  // the query terms alone. pq must be trained.
  void Build(const PqCodec& pq, const float* centroids, int nlist);
  void Clear();

  bool built() const { return m_ > 0; }
  int nlist() const { return nlist_; }
  // Entries of one table: M x ksub.
  size_t lut_size() const { return size_t(m_) * ksub_; }
  size_t memory_bytes() const {
    return (transposed_.size() + list_terms_.size()) * sizeof(float);
  }

  // neg_qy[j * ksub + k] = -<q_j, y_jk>: PqCodec::ComputeLut(q,
  // kInnerProduct), from centroids stored transposed so the inner loop runs
  // over the ksub centroids of a sub-quantizer.
  void QueryTerms(const float* q, float* neg_qy) const;
  // lut = the L2 table of the residual query q - c_list, less ||q - c_list||^2
  // (which the caller adds as the list's constant). Needs nlist > 0.
  void ListLut(int list, const float* neg_qy, float* lut) const;
  // ListLut quantized for the 4-bit fast scan (ksub 16), in one pass
  // without the float table: QuantizePq4ListLut (ivf_lut_kernels.h).
  void QuantizedListLut(int list, const float* neg_qy,
                        QuantizedLut* out) const;

 private:
  int m_ = 0, ksub_ = 0, dsub_ = 0, nlist_ = 0;
  std::vector<float> transposed_;  // M x dsub x ksub
  std::vector<float> list_terms_;  // nlist x M x ksub
};

}  // namespace qvdb
