// PRIVATE header (index/gpu/): what a GPU search needs from an IvfIndex, as
// flat host arrays in the form the kernels read: the models (centroids, PQ
// codebook, FP8 table, RBQ scales), the lists (ids and codes, 4-bit codes in
// PqCodec's plain packing: two per byte, not the CPU's 32-code blocks) and
// the queries after their host-side preparation. The CUDA backend uploads
// these; the CPU simulation (gpu_sim.h) searches them directly.
//
// Supported codecs: PQ (4 and 8 bits, with or without IVF, residual or not),
// FP8E4M3/FP8E5M2 (flat scan) and RBQ (popcount, L2 only). Other specs get
// Unimplemented, and callers search on the CPU.
//
// Thread safety: plain values; the functions are pure given the index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "index/gpu/gpu_types.h"
#include "index/ivf/ivf_index.h"

namespace qvdb::gpu {

// OK when the GPU searches this spec and metric (trained or not), else
// Unimplemented naming them.
absl::Status GpuSupportsSpec(const IndexSpec& spec, Metric metric);

// Unimplemented for specs the GPU does not search (the message names the
// spec and says the CPU serves); FailedPrecondition when not trained.
absl::StatusOr<GpuModel> BuildGpuModel(const IvfIndex& index);

GpuLists ReadAllLists(const IvfIndex& index, int nlist);

absl::StatusOr<PreparedQueries> PrepareQueries(const GpuModel& model,
                                               const IvfIndex& index,
                                               const float* queries,
                                               size_t nq);

}  // namespace qvdb::gpu

namespace qvdb::gpu {

// Candidates one query keeps on the GPU: k, or k x refine_factor when the
// CPU re-ranks them. Unimplemented above kMaxKeep (the CPU serves).
absl::StatusOr<int> GpuKeep(const GpuModel& model, const SearchParams& params);

// The scan's nq x keep candidates (sorted, distances with constants) to
// the k results: re-ranked on the CPU when model.rerank, else cut to k.
SearchResults FinishSearch(const GpuModel& model, const IvfIndex& index,
                           const PreparedQueries& queries, const int64_t* ids,
                           const float* distances, int keep,
                           const SearchParams& params);

}  // namespace qvdb::gpu
