// PRIVATE header (index/gpu/): the GPU search run on the CPU over a
// simulated grid. Each kernel of gpu_backend.cu is replayed as loops over
// its blocks and threads calling exactly the gpu_math.h functions the kernel
// calls, phase by phase (a phase ends where the kernel synchronises), so
// CPU tests catch logic errors of the kernels without a GPU. Only the
// coarse step's dot products differ: cuBLAS computes them on the GPU, a
// plain loop here (float rounding only).
//
// Thread safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "index/gpu/gpu_math.h"
#include "index/gpu/gpu_model.h"

namespace qvdb::gpu {

// The coarse kernel: for each query (one thread each) the nprobe nearest
// lists and their coarse distances, nearest first.
void SimulateCoarse(const GpuModel& model, const float* work, size_t nq,
                    int nprobe, int* lists, float* dists);

// The block merge of the scan kernel: kBlockThreads sorted per-thread
// buffers (thread t: dist[t * cap ...], count[t]) merged per warp, then the
// warps' lists merged, into the keep smallest keys, ascending (ids -1 /
// +inf past the end).
void SimulateBlockMerge(const float* dist, const int64_t* ids,
                        const int* count, int cap, int keep, int64_t* out_ids,
                        float* out_dist);

// The scan kernel for all queries: nq x keep candidates, sorted, distances
// with the per-query constant.
void SimulateScan(const GpuModel& model, const GpuLists& lists,
                  const PreparedQueries& queries, const int* probe_lists,
                  const float* probe_dists, int nprobe, int keep,
                  LutPrecision precision, int64_t* out_ids, float* out_dist);

// The whole GPU search (prepare, coarse, scan, finish) simulated: what the
// GPU index returns for these queries.
absl::StatusOr<SearchResults> SimulateGpuSearch(const IvfIndex& index,
                                                const float* queries,
                                                size_t nq,
                                                const SearchParams& params,
                                                LutPrecision precision);

}  // namespace qvdb::gpu
