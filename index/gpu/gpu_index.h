// GPU search for a VectorIndex: a decorator that keeps a copy of an
// IvfIndex's models and lists in GPU memory and answers Search there, while
// the CPU index stays the source of truth (training, encoding, storage,
// refine codes). No CUDA types here (STYLE.md §6); the CUDA side is
// gpu_backend.cu.
//
// Kept in step: Add/AddEncoded append the new codes to the GPU lists in one
// batch per call (one copy per list touched); Remove and upserts turn the
// old slots into tombstones on the GPU (id -1, skipped by the scan);
// Compact, Train and LoadModel upload everything again.
//
// Search runs on the GPU when it can: coarse step (cuBLAS GEMM + top-nprobe
// kernel), per-query look-up tables in shared memory, the list scan and a
// fused top-k per query, queries in chunks over two streams so copies and
// kernels overlap. Re-ranking of a Refine codec's candidates (and RBQ's
// popcount candidates) runs on the CPU through IvfIndex::ReRank. A search
// the GPU cannot serve (a filter, k x refine_factor above 256, a failure on
// the device) is served by the CPU index instead.
//
// Without a GPU (or in a build without CUDA) MakeGpuIndex returns
// Unavailable and callers keep the CPU index (docs/gpu.md).
//
// Thread safety: as VectorIndex: many concurrent Searches, one writer.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/vector_index.h"

namespace qvdb {

// Precision of the per-query PQ look-up tables in shared memory
// (docs/gpu.md has their measured recall cost).
enum class GpuLutPrecision { kFloat32, kFloat16, kFloat8E4M3 };

struct GpuIndexOptions {
  // CUDA device ordinal. Default: 0.
  int device = 0;
  // Default: float32 (exact codec distances).
  GpuLutPrecision lut_precision = GpuLutPrecision::kFloat32;
  // Queries per chunk of a batch (bounds the coarse matrix and the result
  // buffers). Default: 4096.
  size_t query_chunk = 4096;
};

// OK when a CUDA device is usable; otherwise Unavailable saying why (no
// CUDA in this build, no device, driver error).
absl::Status GpuDeviceStatus();

// Wraps a CPU index (from CreateVectorIndex) for GPU search. Unavailable
// without a usable device; Unimplemented for specs the GPU does not search
// (gpu_model.h). The index need not be trained yet: it is uploaded once it
// is. On error `cpu` is returned through *fallback when not null, so the
// caller keeps serving from it.
absl::StatusOr<std::unique_ptr<VectorIndex>> MakeGpuIndex(
    std::unique_ptr<VectorIndex> cpu, const GpuIndexOptions& options = {},
    std::unique_ptr<VectorIndex>* fallback = nullptr);

// GPU memory held by a GPU index per searchable vector (lists' codes and
// ids plus models), or -1 when `index` is not a GPU index.
double GpuBytesPerVector(const VectorIndex& index);

// What the benchmark reports against: the card's name, its peak memory
// bandwidth (2 x memory clock x bus width) and its L2 cache size.
struct GpuDeviceInfo {
  std::string name;
  double peak_bytes_per_second = 0;
  size_t l2_bytes = 0;
};
absl::StatusOr<GpuDeviceInfo> GetGpuDeviceInfo(int device = 0);

// The message qvdb-server and qvdb-bench print when --device gpu cannot be
// honoured: "no CUDA device: searching on the CPU (<why>)".
std::string GpuFallbackMessage(const absl::Status& why);

}  // namespace qvdb
