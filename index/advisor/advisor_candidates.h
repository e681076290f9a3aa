// The index specs the compression advisor (advisor.h) tries on a sample, each
// with an estimate of what evaluating it costs, so that the cheap ones run
// first and a time budget cuts only the expensive tail.
//
// The list (docs/advisor.md has the reasoning):
// - scalar codecs in the original space: Flat (the reference), FP16, SQ8,
//   FP8E4M3, FP8E5M2. These are "essential": always evaluated;
// - PCA to d/2, d/4, d/8 with SQ8, FP8E4M3 and FP16;
// - PQ with 2-, 4- and 8-dimensional sub-vectors (M = d/2, d/4, d/8) in
//   4-bit fast-scan (x4fs) and, for M <= 64, 8-bit (x8) form;
// - RQ8x8 and RQ16x8; RBQ1, RBQ2, RBQ4;
// - each coarse one (fewer RAM bytes than SQ8) also with Refine(SQ8),
//   Refine(FP8E4M3) and Refine(Flat);
// - the PQ fast-scan ones also with two stages, Refine(SQ8),Refine(Flat): a
//   RAM tier narrowing many scan candidates to few disk reads;
// - everything again under IVF<nlist> when the sample has at least
//   min_ivf_sample base vectors (nlist: AdvisorNlist).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "index/codecs/index_spec.h"

namespace qvdb {

struct AdvisorCandidate {
  IndexSpec spec;
  // Estimated work (multiply-adds) to train, encode and search: only the
  // order matters.
  double cost = 0;
  // Evaluated whatever the time budget (cheap, and the reference).
  bool essential = false;
};

// IVF lists for a sample of n_base vectors: the power of two nearest
// sqrt(n_base), at least 16.
int AdvisorNlist(size_t n_base);

// The candidates for `dim`-dimensional vectors, essential ones first, then
// by increasing cost. n_base and n_queries size the cost estimates; IVF
// variants are added only when n_base >= min_ivf_sample. With a RAM budget
// (bytes per vector), non-essential specs whose RAM codes alone exceed it
// are left out: they could not be chosen.
std::vector<AdvisorCandidate> MakeAdvisorCandidates(
    int dim, size_t n_base, size_t n_queries, size_t min_ivf_sample,
    std::optional<double> max_ram_bytes = std::nullopt);

// Bytes per vector of the codes a spec keeps in RAM (index codes, the RAM
// re-ranking tier, a last Refine stage other than Flat): a lower bound of
// what the index's memory_bytes() gives per vector.
double EstimateRamCodeBytes(const IndexSpec& spec, int dim);

// The cost estimate of one spec (as used for the ordering above).
double EstimateAdvisorCost(const IndexSpec& spec, int dim, size_t n_base,
                           size_t n_queries);

}  // namespace qvdb
