// PRIVATE header (index/gpu/): the arithmetic of every GPU kernel, as QVDB_HD
// functions (host_device.h). The CUDA kernels (gpu_backend.cu) are thin
// loops around these; the CPU simulation (gpu_sim.h) runs the same functions
// over a simulated grid, so CPU tests check what the GPU computes.
//
// Distances are lower-is-better (metric.h). Keys (distance, id) order like
// TopK's: distance first, then lower id; NaN and +inf are never kept.
//
// Pure functions: thread-safe.
#pragma once

#include <cstdint>

#include "index/kernels/binary_distance.h"
#include "index/codecs/float8.h"
#include "index/kernels/host_device.h"
#include "index/codecs/fp8_codec.h"
#include "index/codecs/product_quantizer.h"
#include "index/kernels/select_nearest.h"

namespace qvdb::gpu {

// Threads of one search block (4 warps): one block scans one query's lists.
inline constexpr int kBlockThreads = 128;
inline constexpr int kWarpSize = 32;
inline constexpr int kWarps = kBlockThreads / kWarpSize;
// Most candidates one query keeps on the GPU (k x refine factor).
inline constexpr int kMaxKeep = 256;

// ---- keys and per-thread k-buffers (the fused top-k) ----

QVDB_HD float PositiveInfinity() {
  return float8_internal::BitsToFloat(0x7F800000u);
}

QVDB_HD bool KeyLess(float da, int64_t ia, float db, int64_t ib) {
  return da < db || (da == db && ia < ib);
}

// Inserts (d, id) into a thread's sorted buffer (ascending keys) of *n <=
// cap entries; when full, only a key below the last one enters and the last
// drops out. NaN and +inf never enter.
QVDB_HD void KBufferInsert(float* dist, int64_t* ids, int* n, int cap, float d,
                           int64_t id) {
  if (!(d < PositiveInfinity())) return;
  int pos = *n;
  if (pos == cap) {
    if (!KeyLess(d, id, dist[cap - 1], ids[cap - 1])) return;
    pos = cap - 1;
  } else {
    ++*n;
  }
  while (pos > 0 && KeyLess(d, id, dist[pos - 1], ids[pos - 1])) {
    dist[pos] = dist[pos - 1];
    ids[pos] = ids[pos - 1];
    --pos;
  }
  dist[pos] = d;
  ids[pos] = id;
}

// The head of a sorted buffer at position pos, or (+inf, -1) when spent.
QVDB_HD void BufferHead(const float* dist, const int64_t* ids, int n, int pos,
                        float* d, int64_t* id) {
  if (pos < n) {
    *d = dist[pos];
    *id = ids[pos];
  } else {
    *d = PositiveInfinity();
    *id = -1;
  }
}

// One step of the warp's (or block's) k-way merge: of two lanes' heads,
// which wins (true: the first). Spent heads (id -1, +inf) always lose; the
// result does not depend on the order lanes are compared in because keys
// are distinct (one id per query).
QVDB_HD bool HeadWins(float da, int64_t ia, float db, int64_t ib) {
  if (ib < 0) return ia >= 0 || ia < ib;
  if (ia < 0) return false;
  return KeyLess(da, ia, db, ib);
}

// ---- coarse quantization ----

// Coarse distance from a GEMM dot product: L2 ||q||^2 + ||c||^2 - 2 <q, c>,
// inner product -<q, c>.
QVDB_HD float CoarseDistance(bool inner_product, float q_norm, float c_norm,
                             float dot) {
  return inner_product ? -dot : q_norm + c_norm - 2.0f * dot;
}

// InsertNearest (index/kernels/select_nearest.h) selects the nprobe nearest lists.

// ---- PQ look-up tables in three precisions ----

enum class LutPrecision : int { kF32 = 0, kF16 = 1, kE4M3 = 2 };

QVDB_HD int LutEntryBytes(LutPrecision p) {
  return p == LutPrecision::kF32 ? 4 : p == LutPrecision::kF16 ? 2 : 1;
}

// Entry of sub-quantizer j, centroid k: L2 ||r_j - y_jk||^2 with r = q - c
// (c: the list's centroid for residual codes, else null), inner product
// -<q_j, y_jk>. Same operations, same order as PqCodec::ComputeLut on r.
QVDB_HD float PqLutEntry(const float* q, const float* c, const float* codebook,
                         int j, int k, int ksub, int dsub, bool inner_product) {
  const float* y = codebook + (size_t(j) * ksub + k) * dsub;
  const float* qj = q + j * dsub;
  float s = 0.0f;
  if (inner_product) {
    for (int t = 0; t < dsub; ++t) s += qj[t] * y[t];
    return -s;
  }
  for (int t = 0; t < dsub; ++t) {
    const float r = c ? qj[t] - c[j * dsub + t] : qj[t];
    const float diff = r - y[t];
    s += diff * diff;
  }
  return s;
}

// How a reduced-precision table stores an entry x: (x - lo) * scale, with
// scale a power of two (exact) chosen from the table's range [lo, hi] so the
// largest stored value fits the format (E4M3 448, F16 65504); a code's
// distance is then m * lo + sum / scale. F32 stores x as is.
struct LutScale {
  float lo = 0.0f;
  float scale = 1.0f;
};

QVDB_HD LutScale ChooseLutScale(LutPrecision p, float lo, float hi) {
  LutScale s;
  if (p == LutPrecision::kF32) return s;
  s.lo = lo;
  const float max_stored = p == LutPrecision::kF16 ? 65504.0f : kFp8E4M3Max;
  const float range = hi - lo;
  // Largest power of two with range * scale <= max_stored (1 for range 0).
  float scale = 1.0f;
  if (range > 0.0f) {
    while (range * scale > max_stored) scale *= 0.5f;
    while (range * scale * 2.0f <= max_stored && scale < 1e30f) scale *= 2.0f;
  }
  s.scale = scale;
  return s;
}

// IEEE half from float: round to nearest even, saturating at 65504.
QVDB_HD uint16_t FloatToHalfBits(float x) {
  using namespace float8_internal;
  const uint32_t bits = FloatBits(x);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  return uint16_t(sign | EncodeMagnitude<5, 10>(bits & 0x7FFFFFFFu, 0x7BFFu));
}

QVDB_HD float HalfBitsToFloat(uint16_t h) {
  const float v = float8_internal::DecodeMagnitude<5, 10>(h & 0x7FFFu);
  return (h & 0x8000u) ? -v : v;
}

QVDB_HD void StoreLutEntry(LutPrecision p, LutScale s, void* lut, int i,
                           float x) {
  if (p == LutPrecision::kF32) {
    static_cast<float*>(lut)[i] = x;
  } else if (p == LutPrecision::kF16) {
    static_cast<uint16_t*>(lut)[i] = FloatToHalfBits((x - s.lo) * s.scale);
  } else {
    static_cast<uint8_t*>(lut)[i] = FloatToFp8E4M3((x - s.lo) * s.scale);
  }
}

QVDB_HD float LoadLutEntry(LutPrecision p, const void* lut, int i) {
  if (p == LutPrecision::kF32) return static_cast<const float*>(lut)[i];
  if (p == LutPrecision::kF16) {
    return HalfBitsToFloat(static_cast<const uint16_t*>(lut)[i]);
  }
  return Fp8E4M3ToFloat(static_cast<const uint8_t*>(lut)[i]);
}

// A PQ code's distance from a table: sum over j in order, then de-scaled.
QVDB_HD float PqCodeDistance(LutPrecision p, LutScale s, const void* lut,
                             const uint8_t* code, int m, int nbits) {
  const int ksub = 1 << nbits;
  float sum = 0.0f;
  for (int j = 0; j < m; ++j) {
    sum += LoadLutEntry(p, lut, j * ksub + PqSubCode(code, j, nbits));
  }
  if (p == LutPrecision::kF32) return sum;
  return float(m) * s.lo + sum / s.scale;
}

// ---- float8 flat scan ----

// The query as the FP8 kernels take it: L2 r = q - mu, inner product q.
QVDB_HD float Fp8QueryValue(const float* q, const float* mean, int j,
                            bool inner_product) {
  return inner_product ? q[j] : q[j] - mean[j];
}

// ---- recurrent binary codes (popcount) ----

// ||sum_l c_l b_l||^2 of one RBQ code from its level pairs' popcounts.
QVDB_HD float RbqNormSquared(const uint8_t* code, const float* c, int levels,
                             int dim) {
  const int nbytes = BinaryCodeBytes(dim);
  float norm = 0.0f;
  for (int l = 0; l < levels; ++l) {
    norm += c[l] * c[l] * float(dim);
    for (int m = l + 1; m < levels; ++m) {
      norm += 2.0f * c[l] * c[m] *
              float(BinaryDotPopcount(code + l * nbytes, code + m * nbytes,
                                      dim));
    }
  }
  return norm;
}

// Symmetric squared L2 between two RBQ reconstructions, from XOR + popcount
// of every level pair: ||sum_l a_l b_l - sum_l c_l e_l||^2 with per-level
// scales a (query) and c (code) and +1/-1 levels of nbytes = ceil(dim/8).
// query_norm is ||sum_l a_l b_l||^2 (computed once per query).
QVDB_HD float RbqSymmetricL2(const uint8_t* qcode, const float* qscale,
                             float query_norm, const uint8_t* code,
                             const float* cscale, int levels, int dim) {
  const int nbytes = BinaryCodeBytes(dim);
  const float norm = RbqNormSquared(code, cscale, levels, dim);
  float cross = 0.0f;
  for (int l = 0; l < levels; ++l) {
    float row = 0.0f;
    for (int m = 0; m < levels; ++m) {
      row += cscale[m] * float(BinaryDotPopcount(qcode + l * nbytes,
                                                 code + m * nbytes, dim));
    }
    cross += qscale[l] * row;
  }
  return query_norm + norm - 2.0f * cross;
}

// A code's per-level scales c_l = alpha * s_l (alpha: the float32 after the
// levels, recurrent_binary_quantizer.h).
QVDB_HD void RbqCodeScales(const uint8_t* code, const float* s, int levels,
                           int dim, float* c) {
  const int nbytes = BinaryCodeBytes(dim);
  const uint8_t* a = code + levels * nbytes;
  const uint32_t bits = uint32_t(a[0]) | (uint32_t(a[1]) << 8) |
                        (uint32_t(a[2]) << 16) | (uint32_t(a[3]) << 24);
  const float alpha = float8_internal::BitsToFloat(bits);
  for (int l = 0; l < levels; ++l) c[l] = alpha * s[l];
}

// ---- one block's scan of one query's lists ----

// What a list adds to each of its codes' distances: the inner-product
// coarse term -<q, c> for residual codes (the table holds -<q_j, y_jk>);
// nothing otherwise (residual L2 tables are built from q - c directly).
QVDB_HD float ListConstant(bool by_residual, bool inner_product,
                           float coarse_distance) {
  return by_residual && inner_product ? coarse_distance : 0.0f;
}

// Thread tid of nthreads computes table entries tid, tid + nthreads, ...
// and returns their range (the reduced-precision scale's input).
QVDB_HD void PqLutRange(int tid, int nthreads, const float* q, const float* c,
                        const float* codebook, int m, int ksub, int dsub,
                        bool inner_product, float* lo, float* hi) {
  float a = PositiveInfinity(), b = -PositiveInfinity();
  for (int e = tid; e < m * ksub; e += nthreads) {
    const float x =
        PqLutEntry(q, c, codebook, e / ksub, e % ksub, ksub, dsub,
                   inner_product);
    a = x < a ? x : a;
    b = x > b ? x : b;
  }
  *lo = a;
  *hi = b;
}

// Thread tid's share of the table, stored in precision p.
QVDB_HD void PqLutFill(int tid, int nthreads, const float* q, const float* c,
                       const float* codebook, int m, int ksub, int dsub,
                       bool inner_product, LutPrecision p, LutScale s,
                       void* lut) {
  for (int e = tid; e < m * ksub; e += nthreads) {
    StoreLutEntry(p, s, lut, e,
                  PqLutEntry(q, c, codebook, e / ksub, e % ksub, ksub, dsub,
                             inner_product));
  }
}

struct PqScorer {
  LutPrecision precision;
  LutScale scale;
  const void* lut;
  int m;
  int nbits;
  QVDB_HD float operator()(const uint8_t* code) const {
    return PqCodeDistance(precision, scale, lut, code, m, nbits);
  }
};

// Table-based FP8 distances (fp8_codec.h): q is the prepared query
// (Fp8QueryValue), table the codec's 256 decoded values.
struct Fp8Scorer {
  const float* q;
  const float* table;
  int dim;
  bool inner_product;
  QVDB_HD float operator()(const uint8_t* code) const {
    return inner_product ? -Fp8InnerProduct(q, code, dim, table)
                         : Fp8L2Distance(q, code, dim, table);
  }
};

struct RbqScorer {
  const uint8_t* qcode;
  const float* qscale;
  float query_norm;
  const float* scales;  // s_l
  int levels;
  int dim;
  QVDB_HD float operator()(const uint8_t* code) const {
    float c[8];
    RbqCodeScales(code, scales, levels, dim, c);
    return RbqSymmetricL2(qcode, qscale, query_norm, code, c, levels, dim);
  }
};

// Thread tid of nthreads scores codes tid, tid + nthreads, ... of a list of
// n codes into its own sorted k-buffer; removed slots (id -1) are skipped.
template <class Scorer>
QVDB_HD void ScanListThread(int tid, int nthreads, const Scorer& score,
                            const int64_t* ids, const uint8_t* codes,
                            size_t code_size, size_t n, float constant,
                            float* buf_dist, int64_t* buf_ids, int* count,
                            int cap) {
  for (size_t i = size_t(tid); i < n; i += size_t(nthreads)) {
    const int64_t id = ids[i];
    if (id < 0) continue;
    KBufferInsert(buf_dist, buf_ids, count, cap,
                  score(codes + i * code_size) + constant, id);
  }
}

// Index of the winning head among n (HeadWins); the CUDA merge finds the
// same one with a shuffle tree, as keys are distinct.
QVDB_HD int WinningHead(const float* dist, const int64_t* ids, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i) {
    if (HeadWins(dist[i], ids[i], dist[best], ids[best])) best = i;
  }
  return best;
}

}  // namespace qvdb::gpu
