// PRIVATE header (index/gpu/): the plain data the GPU search moves between
// host and device (models, lists, prepared queries), free of C++20-only and
// CUDA-only headers so that both g++ and nvcc (C++17) read it. Filled by
// gpu_model.h's functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qvdb::gpu {

enum class ScanKind { kPq, kFp8, kRbq };

struct GpuModel {
  ScanKind kind = ScanKind::kPq;
  bool inner_product = false;  // codec metric (cosine: normalised first)
  int work_dim = 0;
  int nlist = 1;              // 1 without IVF
  bool has_ivf = false;
  bool by_residual = false;   // PQ codes of x - centroid
  size_t code_size = 0;
  // Candidates are re-scored on the CPU (IvfIndex::ReRank): with a Refine
  // codec, and for RBQ (the popcount distance is the symmetric one).
  bool rerank = false;
  // With two Refine stages the CPU's RAM tier first keeps k x
  // refine_factor of the k x ram_refine_factor candidates.
  bool ram_refine = false;
  std::vector<float> centroids;       // nlist x work_dim (IVF only)
  std::vector<float> centroid_norms;  // nlist: ||c||^2
  // PQ.
  int pq_m = 0, pq_nbits = 0, pq_ksub = 0, pq_dsub = 0;
  std::vector<float> codebook;  // m x ksub x dsub
  // FP8: the codec's decode table (256) and mean (work_dim).
  std::vector<float> fp8_table, fp8_mean;
  // RBQ: levels and per-level scales s_l (codes carry alpha).
  int rbq_levels = 0;
  std::vector<float> rbq_scales;

  // Bytes of the PQ look-up table one query needs for one list.
  size_t lut_entries() const { return size_t(pq_m) * pq_ksub; }
  // Floats per prepared query (what the scan kernels read).
  int query_dim() const { return work_dim; }
};

// Host mirror of the lists: ids (-1: removed) and packed codes.
struct GpuLists {
  std::vector<std::vector<int64_t>> ids;
  std::vector<std::vector<uint8_t>> codes;
};

// Queries as the kernels take them.
struct PreparedQueries {
  size_t nq = 0;
  std::vector<float> raw;       // nq x dim, normalised (refine)
  std::vector<float> work;      // nq x work_dim (coarse step, re-rank)
  std::vector<float> pca_constant;  // nq: PCA's share (re-rank adds it)
  std::vector<float> scan;      // nq x work_dim: what the scan reads
  std::vector<float> constant;  // nq: added to every scanned distance
  // RBQ: the query's own code, level scales and ||reconstruction||^2.
  std::vector<uint8_t> rbq_codes;
  std::vector<float> rbq_qscales;  // nq x levels
  std::vector<float> rbq_norms;    // nq
};
}  // namespace qvdb::gpu
