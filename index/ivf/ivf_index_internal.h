// PRIVATE header: constants and helpers shared by ivf_index.cc (model, lists)
// and ivf_search.cc (search path).
#pragma once

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>

#include "base/status_macros.h"
#include "index/codecs/codec_factory.h"
#include "index/ivf/ivf_index.h"
#include "index/kernels/pq4_fast_scan.h"
#include "index/kernels/rabitq_kernels.h"
#include "index/kernels/scalar_distance_kernels.h"
#include "index/kernels/select_nearest.h"
#include "index/kernels/simd_level.h"
#include "index/search/top_k.h"

namespace qvdb {

inline constexpr uint32_t kModelMagic = 0x58495651;  // "QVIX"
inline constexpr uint32_t kModelVersion = 1;
// Queries sharing each list's scan. Large enough that, with 1024 lists and
// nprobe 16, a list is probed by several queries of a chunk (+13% batch QPS
// on the 1M generated set against 64), small enough to bound the scratch
// memory (about 1 MB at M = 32 and 40 candidates per query).
inline constexpr size_t kQueryChunk = 256;
inline constexpr int kRescoreFactor =
    2;  // spare candidates for exact re-scoring
inline constexpr size_t kMaxTrainSample = 100000;
inline constexpr int kMaxK = 10000;

inline float Dot(const float* a, const float* b, int d) {
  float s = 0;
  for (int i = 0; i < d; ++i) s += a[i] * b[i];
  return s;
}

inline float L2(const float* a, const float* b, int d) {
  float s = 0;
  for (int i = 0; i < d; ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

// The nprobe smallest (distance, list) pairs of dist[0, n), ascending, in
// lists/dists; ties go to the lower list. By insertion (InsertNearest) for
// up to 128 probes; a filter's raised nprobe (hundreds of lists) takes a
// selection and a sort of the selected, which pick the same pairs (NaN,
// which finite queries never give, ranks last there).
void SelectNearest(const float* dist, int n, int nprobe, int32_t* lists,
                   float* dists);

// Residual coding pays off for codecs whose error scales with the data's
// spread (PQ, RQ, RaBitQ); scalar codecs keep absolute values.
inline bool UsesResidual(const IndexSpec& spec) {
  return spec.ivf_nlist > 0 && (spec.codec.kind == CodecKind::kPQ ||
                                spec.codec.kind == CodecKind::kRQ ||
                                spec.codec.kind == CodecKind::kRaBitQ);
}

// Sub-quantizers of a list's 32-code blocks, 0 when its codes are packed:
// 4-bit PQ with fast scan, and 1-bit RaBitQ, whose sign plane is a 4-bit
// code of RaBitQ1FastScanM(d) sub-quantizers (rabitq_kernels.h).
inline int BlockSubQuantizers(const IndexSpec& spec, const Codec& codec) {
  if (spec.codec.fast_scan) return spec.codec.m;
  if (spec.codec.kind == CodecKind::kRaBitQ && spec.codec.nbits == 1) {
    return RaBitQ1FastScanM(codec.dim());
  }
  return 0;
}

// centroids: nlist x work dim, or empty before training and without IVF.
inline std::unique_ptr<ListScanner> MakeScanner(
    const IndexSpec& spec, const Codec& codec,
    const std::vector<float>& centroids) {
  // The factory builds a PqCodec for every kPQ spec and a RaBitQCodec for
  // every kRaBitQ one (codec_factory.cc).
  if (spec.codec.fast_scan) {
    return MakePq4FastScanner(static_cast<const PqCodec&>(codec));
  }
  if (spec.codec.kind == CodecKind::kRaBitQ && codec.is_trained()) {
    const bool residual = UsesResidual(spec) && !centroids.empty();
    return MakeRaBitQScanner(static_cast<const RaBitQCodec&>(codec),
                             residual ? centroids.data() : nullptr,
                             residual ? spec.ivf_nlist : 0,
                             BlockSubQuantizers(spec, codec) > 0);
  }
  return MakeGenericScanner(codec);
}

}  // namespace qvdb
