#include "index/list_scanner.h"

#include <algorithm>
#include <vector>

#include "index/pq4_fast_scan.h"

namespace qvdb {
namespace {

class GenericScanner final : public ListScanner {
 public:
  explicit GenericScanner(const Codec& codec) : codec_(codec) {}

  void Scan(const InvertedList& list, const ListQuery* queries, int nq,
            Metric metric, const IdFilter* filter,
            ScanScratch* scratch) const override {
    constexpr size_t kChunk = 256;
    const size_t n = list.ids.size();
    const size_t cs = codec_.code_size();
    std::vector<float>& dist = scratch->distances;
    dist.resize(std::min(kChunk, n));
    for (int q = 0; q < nq; ++q) {
      auto qd = codec_.MakeQueryDistance(queries[q].query, metric);
      for (size_t start = 0; start < n; start += kChunk) {
        const size_t m = std::min(kChunk, n - start);
        qd->Distances(list.codes.data() + start * cs, m, dist.data());
        for (size_t i = 0; i < m; ++i) {
          const int64_t id = list.ids[start + i];
          if (id < 0 || (filter && !filter->Contains(id))) continue;
          queries[q].top->Push(dist[i] + queries[q].constant, id);
        }
      }
    }
  }

 private:
  const Codec& codec_;
};

class Pq4FastScanner final : public ListScanner {
 public:
  explicit Pq4FastScanner(const PqCodec& pq) : pq_(pq) {}

  void Scan(const InvertedList& list, const ListQuery* queries, int nq,
            Metric metric, const IdFilter* filter,
            ScanScratch* scratch) const override {
    // Queries share each pass over the codes, a group at a time.
    constexpr int kGroup = 8;
    for (int q0 = 0; q0 < nq; q0 += kGroup) {
      ScanGroup(list, queries + q0, std::min(kGroup, nq - q0), metric, filter,
                scratch);
    }
  }

  bool approximate() const override { return true; }

 private:
  // Chunk of codes between threshold updates: small enough that the top-k
  // threshold tightens often, large enough to keep the kernel busy.
  static constexpr size_t kChunk = 256;

  void ScanGroup(const InvertedList& list, const ListQuery* queries, int nq,
                 Metric metric, const IdFilter* filter,
                 ScanScratch* sc) const {
    const int M = pq_.m();
    const size_t n = list.ids.size();
    if (n == 0) return;
    sc->luts.resize(size_t(M) * 16);
    if (sc->qluts.size() < size_t(nq)) sc->qluts.resize(nq);
    sc->tables.resize(nq);
    for (int q = 0; q < nq; ++q) {
      const float* lut = queries[q].lut;
      if (lut == nullptr) {
        pq_.ComputeLut(queries[q].query, metric, sc->luts.data());
        lut = sc->luts.data();
      }
      QuantizePq4Lut(lut, M, &sc->qluts[q]);
      sc->tables[q] = sc->qluts[q].table.data();
    }
    sc->ids.resize(size_t(nq) * kChunk);
    sc->values.resize(size_t(nq) * kChunk);
    sc->id_rows.resize(nq);
    sc->value_rows.resize(nq);
    for (int q = 0; q < nq; ++q) {
      sc->id_rows[q] = &sc->ids[size_t(q) * kChunk];
      sc->value_rows[q] = &sc->values[size_t(q) * kChunk];
    }
    sc->thresholds.resize(nq);
    sc->counts.resize(nq);
    const size_t block_bytes = Pq4BlockBytes(M);
    for (size_t start = 0; start < n; start += kChunk) {
      const size_t m = std::min(kChunk, n - start);
      for (int q = 0; q < nq; ++q) {
        sc->thresholds[q] = Pq4Threshold(
            sc->qluts[q], M, queries[q].top->threshold() - queries[q].constant);
      }
      const uint8_t* blocks =
          list.codes.data() + (start / kPq4BlockSize) * block_bytes;
      ScanPq4MultiBelow(blocks, m, M, sc->tables.data(), nq,
                        sc->thresholds.data(), sc->id_rows.data(),
                        sc->value_rows.data(), sc->counts.data());
      for (int q = 0; q < nq; ++q) {
        const QuantizedLut& qlut = sc->qluts[q];
        for (size_t s = 0; s < sc->counts[q]; ++s) {
          const int64_t id = list.ids[start + sc->id_rows[q][s]];
          if (id < 0 || (filter && !filter->Contains(id))) continue;
          queries[q].top->Push(
              DequantizePq4(qlut, sc->value_rows[q][s]) + queries[q].constant,
              id);
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
