#include "index/ivf/list_scanner.h"

#include <algorithm>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "index/kernels/pq4_fast_scan.h"

namespace qvdb {
namespace {

class GenericScanner final : public ListScanner {
 public:
  explicit GenericScanner(const Codec& codec) : codec_(codec) {}

  void Scan(const InvertedList& list, const ListQuery* queries, int nq,
            Metric metric, const IdFilter* filter,
            ScanScratch* scratch) const override {
    for (int q = 0; q < nq; ++q) {
      auto qd = codec_.MakeQueryDistance(queries[q].query, metric);
      ScoreList(*qd, list, codec_.code_size(), queries[q], filter, scratch);
    }
  }

 private:
  const Codec& codec_;
};

// Number of values[0, n) that are <= t. values is padded with 0xFFFF to a
// multiple of 8 entries (padding never counts: t < 65535).
size_t CountAtMost(const uint16_t* values, size_t n, uint16_t t) {
  const size_t padded = (n + 7) & ~size_t{7};
#if defined(__SSE2__)
  // Unsigned compare as signed after flipping the top bit; each lane counts
  // the values above t (at most padded / 8 per lane, far below 2^15).
  const __m128i flip = _mm_set1_epi16(short(0x8000));
  const __m128i limit = _mm_set1_epi16(short(t ^ 0x8000));
  __m128i above = _mm_setzero_si128();
  for (size_t i = 0; i < padded; i += 8) {
    const __m128i x = _mm_xor_si128(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(values + i)), flip);
    above = _mm_sub_epi16(above, _mm_cmpgt_epi16(x, limit));
  }
  __m128i sum = _mm_madd_epi16(above, _mm_set1_epi16(1));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(1, 0, 3, 2)));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(2, 3, 0, 1)));
  return padded - size_t(_mm_cvtsi128_si32(sum));
#else
  size_t count = 0;
  for (size_t i = 0; i < padded; ++i) count += values[i] <= t;
  return count;
#endif
}

// The need-th smallest of values[0, n) (1 <= need <= n): the least t with
// CountAtMost(t) >= need, by binary search over the 16-bit range.
uint16_t NthSmallest(const uint16_t* values, size_t n, size_t need) {
  uint32_t lo = 0, hi = 65535;
  while (lo < hi) {
    const uint32_t mid = (lo + hi) / 2;
    if (CountAtMost(values, n, uint16_t(mid)) >= need) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return uint16_t(lo);
}

class Pq4FastScanner final : public ListScanner {
 public:
  explicit Pq4FastScanner(const PqCodec& pq) : pq_(pq) {}

  void Scan(const InvertedList& list, const ListQuery* queries, int nq,
            Metric metric, const IdFilter* filter,
            ScanScratch* scratch) const override {
    if (list.ids.empty()) return;
    // Queries share each pass over the codes, a group at a time.
    for (int q0 = 0; q0 < nq; q0 += ScanScratch::kGroup) {
      ScanGroup(list, queries + q0, std::min(ScanScratch::kGroup, nq - q0),
                metric, filter, scratch);
    }
  }

  bool approximate() const override { return true; }

 private:
  static constexpr size_t kChunk = ScanScratch::kChunk;
  // Codes of a list that prime a query's empty top-k (see Prime).
  static constexpr size_t kPrimeCodes = ScanScratch::kPrimeCodes;
  static_assert(kPrimeCodes % kChunk == 0 && kChunk % kPq4BlockSize == 0);

  // What ScanGroup knows of one query.
  struct Query {
    const uint8_t* table;
    float base;       // distance of value 0: bias + the list's constant
    float scale;      // quantized units per distance unit
    float inv_scale;
    TopK* top;
  };

  // The 16-bit threshold below which a code's pushed distance
  // base + value * inv_scale can reach `distance` (a code at exactly the
  // threshold may still enter top-k with a lower id). One unit of slack
  // covers float rounding; extra survivors are rejected by top-k itself.
  static uint16_t Threshold(float distance, const Query& q) {
    const float x = (distance - q.base) * q.scale + 2.0f;
    if (!(x < 65535.0f)) return 65535;  // also +inf and NaN
    if (x <= 0.0f) return 0;
    return uint16_t(x);
  }

  // Starts the filter's reads for the codes at positions pos[0, n) of
  // ids, about to be pushed: their cache misses then overlap.
  static void PrefetchForFilter(const IdFilter* filter, const int64_t* ids,
                                const uint32_t* pos, size_t n) {
    if (filter == nullptr) return;
    for (size_t i = 0; i < n; ++i) filter->Prefetch(ids[pos[i]]);
  }

  static void Push(const Query& q, const int64_t* ids, uint32_t pos,
                   uint16_t value, const IdFilter* filter) {
    // PushCandidate tests top-k's threshold again: it has tightened since
    // the kernel's.
    PushCandidate(q.top, filter, ids[pos],
                  q.base + float(value) * q.inv_scale);
  }

  // Fills a query's top-k, which holds fewer than k candidates, from the
  // first m codes of the list, best first: all m values are computed, the
  // k-th smallest found by counting, and the codes up to it pushed before
  // the others. The threshold is then as tight as this list allows before
  // most codes are looked at, so few reach top-k's buffer (pushing every
  // code is always correct; only the order changes). Returns m.
  size_t Prime(const InvertedList& list, const Query& q, int M,
               const IdFilter* filter, ScanScratch* sc) const {
    const size_t m = std::min(list.ids.size(), kPrimeCodes);
    // All m values in code order (whole blocks; the padding after m is
    // overwritten with 0xFFFF, which NthSmallest never counts).
    uint16_t* values = sc->prime_values.data();
    ScanPq4(list.codes.data(), Pq4NumBlocks(m), M, q.table, values);
    std::fill(values + m, values + ((m + 31) & ~size_t{31}), uint16_t{0xFFFF});
    const size_t need = size_t(q.top->k() - q.top->size());
    const uint16_t nth =
        need < m ? NthSmallest(values, m, need) : uint16_t{65535};
    const int64_t* ids = list.ids.data();
    uint32_t* order = sc->prime_order.data();
    // Branch-free selection of the best codes, then the rest that can still
    // enter (the others would be rejected by top-k anyway).
    size_t selected = 0;
    for (size_t s = 0; s < m; ++s) {
      order[selected] = uint32_t(s);
      selected += values[s] <= nth;
    }
    PrefetchForFilter(filter, ids, order, selected);
    for (size_t i = 0; i < selected; ++i) {
      Push(q, ids, order[i], values[order[i]], filter);
    }
    const uint16_t below = Threshold(q.top->threshold(), q);
    selected = 0;
    for (size_t s = 0; s < m; ++s) {
      order[selected] = uint32_t(s);
      selected += (values[s] > nth) & (values[s] < below);
    }
    PrefetchForFilter(filter, ids, order, selected);
    for (size_t i = 0; i < selected; ++i) {
      Push(q, ids, order[i], values[order[i]], filter);
    }
    return m;
  }

  void ScanGroup(const InvertedList& list, const ListQuery* queries, int nq,
                 Metric metric, const IdFilter* filter,
                 ScanScratch* sc) const {
    const int M = pq_.m();
    const size_t n = list.ids.size();
    // Queries still to scan in chunks, and the codes their priming covered.
    Query active[ScanScratch::kGroup];
    size_t primed[ScanScratch::kGroup];
    int nactive = 0;
    for (int q = 0; q < nq; ++q) {
      const QuantizedLut* qlut = queries[q].qlut;
      if (qlut == nullptr) {
        const float* lut = queries[q].lut;
        if (lut == nullptr) {
          sc->lut.resize(size_t(M) * 16);
          pq_.ComputeLut(queries[q].query, metric, sc->lut.data());
          lut = sc->lut.data();
        }
        QuantizePq4Lut(lut, M, &sc->qluts[q]);
        qlut = &sc->qluts[q];
      }
      const Query query{qlut->table.data(), qlut->bias + queries[q].constant,
                        qlut->scale, 1.0f / qlut->scale, queries[q].top};
      const size_t covered =
          query.top->full() ? 0 : Prime(list, query, M, filter, sc);
      if (covered < n) {
        primed[nactive] = covered;
        active[nactive++] = query;
      }
    }
    if (nactive == 0) return;
    const uint8_t* tables[ScanScratch::kGroup];
    uint32_t* id_rows[ScanScratch::kGroup];
    uint16_t* value_rows[ScanScratch::kGroup];
    for (int q = 0; q < nactive; ++q) {
      tables[q] = active[q].table;
      id_rows[q] = sc->ids.data() + q * kChunk;
      value_rows[q] = sc->values.data() + q * kChunk;
    }
    uint16_t thresholds[ScanScratch::kGroup];
    size_t counts[ScanScratch::kGroup];
    const size_t block_bytes = Pq4BlockBytes(M);
    const int64_t* ids = list.ids.data();
    for (size_t start = 0; start < n; start += kChunk) {
      const size_t m = std::min(kChunk, n - start);
      for (int q = 0; q < nactive; ++q) {
        // Codes a query's priming covered pass nothing (chunks never
        // straddle it: kPrimeCodes is a multiple of kChunk).
        thresholds[q] = start < primed[q]
                            ? uint16_t{0}
                            : Threshold(active[q].top->threshold(), active[q]);
      }
      const uint8_t* blocks =
          list.codes.data() + (start / kPq4BlockSize) * block_bytes;
      ScanPq4MultiBelow(blocks, m, M, tables, nactive, thresholds, id_rows,
                        value_rows, counts);
      for (int q = 0; q < nactive; ++q) {
        const int64_t* chunk_ids = ids + start;
        PrefetchForFilter(filter, chunk_ids, id_rows[q], counts[q]);
        for (size_t s = 0; s < counts[q]; ++s) {
          Push(active[q], chunk_ids, id_rows[q][s], value_rows[q][s], filter);
        }
      }
    }
  }

  const PqCodec& pq_;
};

}  // namespace

std::unique_ptr<ListScanner> MakeGenericScanner(const Codec& codec) {
  return std::make_unique<GenericScanner>(codec);
}

std::unique_ptr<ListScanner> MakePq4FastScanner(const PqCodec& pq) {
  return std::make_unique<Pq4FastScanner>(pq);
}

}  // namespace qvdb
