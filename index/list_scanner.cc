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
            Metric metric, const IdFilter* filter) const override {
    constexpr size_t kChunk = 256;
    const size_t n = list.ids.size();
    const size_t cs = codec_.code_size();
    std::vector<float> dist(std::min(kChunk, n));
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
            Metric metric, const IdFilter* filter) const override {
    // Queries share each pass over the codes, a group at a time.
    constexpr int kGroup = 8;
    for (int q0 = 0; q0 < nq; q0 += kGroup) {
      ScanGroup(list, queries + q0, std::min(kGroup, nq - q0), metric, filter);
    }
  }

 private:
  // Chunk of codes between threshold updates: small enough that the top-k
  // threshold tightens often, large enough to keep the kernel busy.
  static constexpr size_t kChunk = 256;

  void ScanGroup(const InvertedList& list, const ListQuery* queries, int nq,
                 Metric metric, const IdFilter* filter) const {
    const int M = pq_.m();
    const size_t n = list.ids.size();
    if (n == 0) return;
    std::vector<float> luts(size_t(nq) * M * 16);
    std::vector<QuantizedLut> qluts(nq);
    std::vector<const uint8_t*> tables(nq);
    for (int q = 0; q < nq; ++q) {
      float* lut = &luts[size_t(q) * M * 16];
      pq_.ComputeLut(queries[q].query, metric, lut);
      qluts[q] = QuantizePq4Lut(lut, M);
      tables[q] = qluts[q].table.data();
    }
    std::vector<uint32_t> ids_buf(size_t(nq) * kChunk);
    std::vector<uint16_t> val_buf(size_t(nq) * kChunk);
    std::vector<uint32_t*> ids(nq);
    std::vector<uint16_t*> values(nq);
    for (int q = 0; q < nq; ++q) {
      ids[q] = &ids_buf[size_t(q) * kChunk];
      values[q] = &val_buf[size_t(q) * kChunk];
    }
    std::vector<uint16_t> thresholds(nq);
    std::vector<size_t> counts(nq);
    std::vector<uint8_t> code(Pq4CodeBytes(M));
    const size_t block_bytes = Pq4BlockBytes(M);
    for (size_t start = 0; start < n; start += kChunk) {
      const size_t m = std::min(kChunk, n - start);
      for (int q = 0; q < nq; ++q) {
        thresholds[q] = Pq4Threshold(
            qluts[q], M, queries[q].top->threshold() - queries[q].constant);
      }
      const uint8_t* blocks =
          list.codes.data() + (start / kPq4BlockSize) * block_bytes;
      ScanPq4MultiBelow(blocks, m, M, tables.data(), nq, thresholds.data(),
                        ids.data(), values.data(), counts.data());
      for (int q = 0; q < nq; ++q) {
        const float* lut = &luts[size_t(q) * M * 16];
        for (size_t s = 0; s < counts[q]; ++s) {
          const size_t pos = start + ids[q][s];
          const int64_t id = list.ids[pos];
          if (id < 0 || (filter && !filter->Contains(id))) continue;
          // Survivors get their exact distance from the float table.
          GetPq4Code(list.codes.data(), M, pos, code.data());
          queries[q].top->Push(
              PqLutDistance(lut, code.data(), M, 4) + queries[q].constant, id);
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
