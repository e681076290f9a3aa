// PRIVATE to index/gpu/gpu_backend.cu: the CUDA kernels (coarse step, list
// scans with per-block tables and k-buffers, tombstones). Their arithmetic is
// gpu_math.h's QVDB_HD functions, which the CPU tests replay.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "index/gpu/gpu_backend.h"
#include "index/gpu/gpu_math.h"
#include "index/gpu/cuda_resources.cuh"

namespace qvdb::gpu {
// An unnamed namespace in a header: this file is a part of gpu_backend.cu
// (its one translation unit, kept single for build time), never shared.
namespace {

// ---- kernels ----

__global__ void RowNormsKernel(const float* x, int n, int d, float* norms) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float s = 0.0f;
  for (int j = 0; j < d; ++j) s += x[size_t(i) * d + j] * x[size_t(i) * d + j];
  norms[i] = s;
}

// One thread per query: the nprobe nearest lists from the GEMM's dots.
__global__ void CoarseSelectKernel(const float* dots, const float* q_norms,
                                   const float* c_norms, int nq, int nlist,
                                   int nprobe, bool inner_product, int* lists,
                                   float* dists) {
  const int q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= nq) return;
  int have = 0;
  for (int l = 0; l < nlist; ++l) {
    InsertNearest(CoarseDistance(inner_product, q_norms[q], c_norms[l],
                                 dots[size_t(q) * nlist + l]),
                  l, nprobe, &have, lists + size_t(q) * nprobe,
                  dists + size_t(q) * nprobe);
  }
}

__global__ void TombstoneKernel(int64_t* const* slots, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) *slots[i] = -1;
}

struct ScanArgs {
  // Lists.
  const int64_t* const* list_ids;
  const uint8_t* const* list_codes;
  const int64_t* list_len;
  size_t code_size;
  // Queries of the chunk.
  const float* queries;   // nq x d (the scan's form)
  const float* constant;  // nq
  const int* probe_lists;
  const float* probe_dists;
  int nprobe;
  int d;
  int keep;
  bool inner_product;
  bool by_residual;
  // PQ.
  const float* centroids;
  const float* codebook;
  int m, nbits, ksub, dsub;
  LutPrecision precision;
  // FP8.
  const float* fp8_table;
  // RBQ.
  const uint8_t* rbq_codes;
  const float* rbq_qscales;
  const float* rbq_norms;
  const float* rbq_scales;
  int rbq_levels;
  // Output: nq x keep.
  int64_t* out_ids;
  float* out_dist;
};

__host__ __device__ inline size_t AlignUp(size_t x) { return (x + 15) & ~size_t(15); }

// Shared memory of one scan block: the query, the kind's tables, the
// warps' merge lists.
size_t ScanSharedBytes(ScanKind kind, const ScanArgs& a) {
  size_t bytes = AlignUp(size_t(a.d) * sizeof(float));
  if (kind == ScanKind::kPq) {
    bytes += AlignUp(size_t(a.m) * a.ksub * LutEntryBytes(a.precision));
  } else if (kind == ScanKind::kFp8) {
    bytes += AlignUp(256 * sizeof(float));
  }
  bytes += AlignUp(size_t(kWarps) * a.keep * sizeof(float)) +
           size_t(kWarps) * a.keep * sizeof(int64_t);
  return bytes;
}

// Warp-wide winner of the lanes' heads (HeadWins, ties by lane so every
// lane agrees): returns the winning lane, and its key in *d / *id.
__device__ inline int WarpWinner(float* d, int64_t* id) {
  int lane = threadIdx.x & (kWarpSize - 1);
  for (int off = kWarpSize / 2; off > 0; off >>= 1) {
    const float od = __shfl_xor_sync(0xffffffffu, *d, off);
    const long long oi = __shfl_xor_sync(0xffffffffu, (long long)*id, off);
    const int ol = __shfl_xor_sync(0xffffffffu, lane, off);
    const bool same = od == *d && oi == *id;
    if (HeadWins(od, oi, *d, *id) || (same && ol < lane)) {
      *d = od;
      *id = oi;
      lane = ol;
    }
  }
  return lane;
}

template <ScanKind kKind, int kCap>
__global__ void __launch_bounds__(kBlockThreads)
    ScanKernel(ScanArgs a) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int q = blockIdx.x;
  const int tid = threadIdx.x;
  const int lane = tid & (kWarpSize - 1), warp = tid / kWarpSize;
  float* sq = reinterpret_cast<float*>(smem);
  unsigned char* area = smem + AlignUp(size_t(a.d) * sizeof(float));
  size_t area_bytes = 0;
  if (kKind == ScanKind::kPq) {
    area_bytes = AlignUp(size_t(a.m) * a.ksub * LutEntryBytes(a.precision));
  } else if (kKind == ScanKind::kFp8) {
    area_bytes = AlignUp(256 * sizeof(float));
  }
  float* merge_d = reinterpret_cast<float*>(area + area_bytes);
  int64_t* merge_i = reinterpret_cast<int64_t*>(
      area + area_bytes + AlignUp(size_t(kWarps) * a.keep * sizeof(float)));
  __shared__ float red_lo[kWarps], red_hi[kWarps];

  for (int j = tid; j < a.d; j += kBlockThreads) {
    sq[j] = a.queries[size_t(q) * a.d + j];
  }
  if (kKind == ScanKind::kFp8) {
    float* table = reinterpret_cast<float*>(area);
    for (int j = tid; j < 256; j += kBlockThreads) table[j] = a.fp8_table[j];
  }
  __syncthreads();

  float buf_d[kCap];
  int64_t buf_i[kCap];
  int count = 0;
  const int cap = a.keep < kCap ? a.keep : kCap;
  for (int p = 0; p < a.nprobe; ++p) {
    const int l = a.probe_lists[size_t(q) * a.nprobe + p];
    const float constant =
        a.constant[q] + ListConstant(a.by_residual, a.inner_product,
                                     a.probe_dists[size_t(q) * a.nprobe + p]);
    const size_t n = size_t(a.list_len[l]);
    const int64_t* ids = a.list_ids[l];
    const uint8_t* codes = a.list_codes[l];
    if (kKind == ScanKind::kPq) {
      const float* c = a.by_residual && !a.inner_product
                           ? a.centroids + size_t(l) * a.d
                           : nullptr;
      LutScale scale;
      if (a.precision != LutPrecision::kF32) {
        float lo, hi;
        PqLutRange(tid, kBlockThreads, sq, c, a.codebook, a.m, a.ksub, a.dsub,
                   a.inner_product, &lo, &hi);
        for (int off = kWarpSize / 2; off > 0; off >>= 1) {
          lo = fminf(lo, __shfl_xor_sync(0xffffffffu, lo, off));
          hi = fmaxf(hi, __shfl_xor_sync(0xffffffffu, hi, off));
        }
        if (lane == 0) {
          red_lo[warp] = lo;
          red_hi[warp] = hi;
        }
        __syncthreads();
        lo = red_lo[0];
        hi = red_hi[0];
        for (int w = 1; w < kWarps; ++w) {
          lo = fminf(lo, red_lo[w]);
          hi = fmaxf(hi, red_hi[w]);
        }
        scale = ChooseLutScale(a.precision, lo, hi);
      }
      PqLutFill(tid, kBlockThreads, sq, c, a.codebook, a.m, a.ksub, a.dsub,
                a.inner_product, a.precision, scale, area);
      __syncthreads();
      const PqScorer scorer{a.precision, scale, area, a.m, a.nbits};
      ScanListThread(tid, kBlockThreads, scorer, ids, codes, a.code_size, n,
                     constant, buf_d, buf_i, &count, cap);
      // The next list's table overwrites this one.
      __syncthreads();
    } else if (kKind == ScanKind::kFp8) {
      const Fp8Scorer scorer{sq, reinterpret_cast<const float*>(area), a.d,
                             a.inner_product};
      ScanListThread(tid, kBlockThreads, scorer, ids, codes, a.code_size, n,
                     constant, buf_d, buf_i, &count, cap);
    } else {
      const RbqScorer scorer{a.rbq_codes + size_t(q) * a.code_size,
                             a.rbq_qscales + size_t(q) * a.rbq_levels,
                             a.rbq_norms[q],
                             a.rbq_scales,
                             a.rbq_levels,
                             a.d};
      ScanListThread(tid, kBlockThreads, scorer, ids, codes, a.code_size, n,
                     constant, buf_d, buf_i, &count, cap);
    }
  }

  // Each warp merges its lanes' sorted buffers into keep entries.
  int pos = 0;
  for (int r = 0; r < a.keep; ++r) {
    float d;
    int64_t id;
    BufferHead(buf_d, buf_i, count, pos, &d, &id);
    const int64_t my_id = id;
    const int win = WarpWinner(&d, &id);
    if (win == lane && my_id >= 0) ++pos;
    if (lane == 0) {
      merge_d[warp * a.keep + r] = d;
      merge_i[warp * a.keep + r] = id;
    }
  }
  __syncthreads();
  // Warp 0 merges the warps' lists (lane w < kWarps reads list w).
  if (warp == 0) {
    int wpos = 0;
    for (int r = 0; r < a.keep; ++r) {
      float d;
      int64_t id;
      if (lane < kWarps) {
        BufferHead(merge_d + lane * a.keep, merge_i + lane * a.keep, a.keep,
                   wpos, &d, &id);
      } else {
        d = PositiveInfinity();
        id = -1;
      }
      const int64_t my_id = id;
      const int win = WarpWinner(&d, &id);
      if (win == lane && my_id >= 0) ++wpos;
      if (lane == 0) {
        a.out_dist[size_t(q) * a.keep + r] = d;
        a.out_ids[size_t(q) * a.keep + r] = id;
      }
    }
  }
}


}  // namespace
}  // namespace qvdb::gpu
