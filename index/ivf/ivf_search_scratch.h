// PRIVATE header of index/ivf/: the buffers one IVF search thread reuses.
// Complete here so that ivf_index.cc (which owns the pool) and
// ivf_search.cc (which fills it) both see the type.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "index/ivf/ivf_index.h"
#include "index/ivf/ivf_pq_tables.h"
#include "index/ivf/list_scanner.h"
#include "index/search/top_k.h"

namespace qvdb {

// Buffers one search thread reuses between chunks of queries and between
// searches (IvfIndex keeps a pool of them).
struct IvfIndex::SearchScratch {
  std::vector<float> raw;            // nq x dim: normalised queries (cosine)
  std::vector<float> work;           // nq x work_dim: queries after PCA
  std::vector<float> constant;       // nq: PCA's per-query constant
  std::vector<float> coarse;         // nlist: one query's coarse distances
  std::vector<int32_t> probe_list;   // nq x nprobe lists, nearest first
  std::vector<float> probe_dist;     // nq x nprobe coarse distances
  std::vector<uint32_t> order;       // probe indices in scan order
  std::vector<uint32_t> by_list;     // one phase's probes grouped by list
  std::vector<uint32_t> list_start;  // nlist + 1 (counting sort)
  std::vector<float> neg_qy;         // nq x lut_size (ivf_pq_tables.h)
  std::vector<QuantizedLut> qluts;   // nq: tables every list shares
  QuantizedLut group_qluts[ScanScratch::kGroup];  // a group's list tables
  std::vector<float> residuals;  // kGroup x work_dim (generic scanner)
  std::vector<float> prep;       // nq x scanner's prep_size()
  std::vector<ListQuery> list_queries;
  std::vector<TopK> tops;
  ScanScratch scan;
  // Refine and Rescore.
  std::vector<int64_t> among;  // rows given to SearchAmong or ReRank
  std::vector<int64_t> cand;
  std::vector<float> cand_dist;
  std::vector<float> exact;
  std::vector<float> decoded;
  std::vector<uint8_t> codes;
  std::vector<bool> found;
  TopK middle_top;  // the RAM tier's survivors (two Refine stages)
  // Candidates each stage re-scored since the search took this scratch.
  uint64_t ram_refine_scored = 0;
  uint64_t refine_scored = 0;
  TopK final_top;
  // Empties `top` into cand (their estimated distances into cand_dist),
  // unordered: the candidates a Refine stage or Rescore re-scores.
  std::span<const int64_t> TakeCandidates(TopK* top) {
    cand.resize(top->k());
    cand_dist.resize(top->k());
    const int n = top->TakeUnordered(cand.data(), cand_dist.data());
    return {cand.data(), size_t(n)};
  }
  // Set per chunk by SearchChunk for ScanProbes.
  const float* work_q = nullptr;  // nq x work_dim
  int nprobe = 0;
  int mode = 0;
};

}  // namespace qvdb
