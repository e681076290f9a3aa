#include "index/gpu/gpu_sim.h"

#include <algorithm>

#include "base/status_macros.h"

namespace qvdb::gpu {

void SimulateCoarse(const GpuModel& m, const float* work, size_t nq,
                    int nprobe, int* lists, float* dists) {
  const int d = m.work_dim;
  for (size_t q = 0; q < nq; ++q) {  // one thread per query
    const float* wq = work + q * d;
    float qn = 0;
    for (int j = 0; j < d; ++j) qn += wq[j] * wq[j];
    int have = 0;
    for (int l = 0; l < m.nlist; ++l) {
      // cuBLAS's dot product on the GPU.
      float dot = 0;
      const float* c = &m.centroids[size_t(l) * d];
      for (int j = 0; j < d; ++j) dot += wq[j] * c[j];
      InsertNearest(CoarseDistance(m.inner_product, qn, m.centroid_norms[l],
                                   dot),
                    l, nprobe, &have, lists + q * nprobe, dists + q * nprobe);
    }
  }
}

void SimulateBlockMerge(const float* dist, const int64_t* ids,
                        const int* count, int cap, int keep, int64_t* out_ids,
                        float* out_dist) {
  // Phase 1: each warp merges its 32 lanes' buffers into keep entries.
  std::vector<float> warp_dist(kWarps * keep);
  std::vector<int64_t> warp_ids(kWarps * keep);
  std::vector<int> warp_count(kWarps, keep);
  float head_d[kWarpSize];
  int64_t head_i[kWarpSize];
  for (int w = 0; w < kWarps; ++w) {
    int pos[kWarpSize] = {};
    for (int r = 0; r < keep; ++r) {
      for (int lane = 0; lane < kWarpSize; ++lane) {
        const int t = w * kWarpSize + lane;
        BufferHead(dist + size_t(t) * cap, ids + size_t(t) * cap, count[t],
                   pos[lane], &head_d[lane], &head_i[lane]);
      }
      const int win = WinningHead(head_d, head_i, kWarpSize);
      warp_dist[w * keep + r] = head_d[win];
      warp_ids[w * keep + r] = head_i[win];
      if (head_i[win] >= 0) ++pos[win];
    }
  }
  // Phase 2: warp 0's first kWarps lanes hold the warps' lists.
  int pos[kWarps] = {};
  for (int r = 0; r < keep; ++r) {
    for (int w = 0; w < kWarps; ++w) {
      BufferHead(&warp_dist[w * keep], &warp_ids[w * keep], warp_count[w],
                 pos[w], &head_d[w], &head_i[w]);
    }
    const int win = WinningHead(head_d, head_i, kWarps);
    out_dist[r] = head_d[win];
    out_ids[r] = head_i[win];
    if (head_i[win] >= 0) ++pos[win];
  }
}

void SimulateScan(const GpuModel& m, const GpuLists& lists,
                  const PreparedQueries& pq, const int* probe_lists,
                  const float* probe_dists, int nprobe, int keep,
                  LutPrecision precision, int64_t* out_ids, float* out_dist) {
  const int d = m.work_dim;
  std::vector<float> buf_dist(size_t(kBlockThreads) * keep);
  std::vector<int64_t> buf_ids(size_t(kBlockThreads) * keep);
  std::vector<int> count(kBlockThreads);
  // The block's shared-memory table.
  std::vector<uint8_t> lut(m.lut_entries() * 4);
  float lo[kBlockThreads], hi[kBlockThreads];
  for (size_t q = 0; q < pq.nq; ++q) {  // one block per query
    std::fill(count.begin(), count.end(), 0);
    const float* sq = &pq.scan[q * d];
    for (int p = 0; p < nprobe; ++p) {
      const int l = probe_lists[q * nprobe + p];
      const float constant =
          pq.constant[q] +
          ListConstant(m.by_residual, m.inner_product,
                       probe_dists[q * nprobe + p]);
      const size_t n = lists.ids[l].size();
      const int64_t* ids = lists.ids[l].data();
      const uint8_t* codes = lists.codes[l].data();
      if (m.kind == ScanKind::kPq) {
        const float* c = m.by_residual && !m.inner_product
                             ? &m.centroids[size_t(l) * d]
                             : nullptr;
        LutScale scale;
        if (precision != LutPrecision::kF32) {
          // Range pass, then the block's min/max reduction (exact).
          float a = PositiveInfinity(), b = -PositiveInfinity();
          for (int t = 0; t < kBlockThreads; ++t) {
            PqLutRange(t, kBlockThreads, sq, c, m.codebook.data(), m.pq_m,
                       m.pq_ksub, m.pq_dsub, m.inner_product, &lo[t], &hi[t]);
            a = std::min(a, lo[t]);
            b = std::max(b, hi[t]);
          }
          scale = ChooseLutScale(precision, a, b);
        }
        for (int t = 0; t < kBlockThreads; ++t) {
          PqLutFill(t, kBlockThreads, sq, c, m.codebook.data(), m.pq_m,
                    m.pq_ksub, m.pq_dsub, m.inner_product, precision, scale,
                    lut.data());
        }
        const PqScorer scorer{precision, scale, lut.data(), m.pq_m,
                              m.pq_nbits};
        for (int t = 0; t < kBlockThreads; ++t) {
          ScanListThread(t, kBlockThreads, scorer, ids, codes, m.code_size, n,
                         constant, &buf_dist[size_t(t) * keep],
                         &buf_ids[size_t(t) * keep], &count[t], keep);
        }
      } else if (m.kind == ScanKind::kFp8) {
        const Fp8Scorer scorer{sq, m.fp8_table.data(), d, m.inner_product};
        for (int t = 0; t < kBlockThreads; ++t) {
          ScanListThread(t, kBlockThreads, scorer, ids, codes, m.code_size, n,
                         constant, &buf_dist[size_t(t) * keep],
                         &buf_ids[size_t(t) * keep], &count[t], keep);
        }
      } else {
        const RbqScorer scorer{&pq.rbq_codes[q * m.code_size],
                               &pq.rbq_qscales[q * m.rbq_levels],
                               pq.rbq_norms[q],
                               m.rbq_scales.data(),
                               m.rbq_levels,
                               d};
        for (int t = 0; t < kBlockThreads; ++t) {
          ScanListThread(t, kBlockThreads, scorer, ids, codes, m.code_size, n,
                         constant, &buf_dist[size_t(t) * keep],
                         &buf_ids[size_t(t) * keep], &count[t], keep);
        }
      }
    }
    SimulateBlockMerge(buf_dist.data(), buf_ids.data(), count.data(), keep,
                       keep, out_ids + q * keep, out_dist + q * keep);
  }
}

absl::StatusOr<SearchResults> SimulateGpuSearch(const IvfIndex& index,
                                                const float* queries,
                                                size_t nq,
                                                const SearchParams& params,
                                                LutPrecision precision) {
  ASSIGN_OR_RETURN(GpuModel m, BuildGpuModel(index));
  ASSIGN_OR_RETURN(int keep, GpuKeep(m, params));
  const GpuLists lists = ReadAllLists(index, m.nlist);
  ASSIGN_OR_RETURN(PreparedQueries pq, PrepareQueries(m, index, queries, nq));
  const int nprobe = std::min(params.nprobe, m.nlist);
  std::vector<int> probe_lists(nq * nprobe, 0);
  std::vector<float> probe_dists(nq * nprobe, 0.0f);
  if (m.has_ivf) {
    SimulateCoarse(m, pq.work.data(), nq, nprobe, probe_lists.data(),
                   probe_dists.data());
  }
  std::vector<int64_t> ids(nq * keep);
  std::vector<float> dist(nq * keep);
  SimulateScan(m, lists, pq, probe_lists.data(), probe_dists.data(), nprobe,
               keep, precision, ids.data(), dist.data());
  return FinishSearch(m, index, pq, ids.data(), dist.data(), keep, params);
}

}  // namespace qvdb::gpu
