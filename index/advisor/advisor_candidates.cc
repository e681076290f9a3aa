#include "index/advisor/advisor_candidates.h"

#include <algorithm>
#include <cmath>

namespace qvdb {
namespace {

CodecSpec Codec(CodecKind kind, int m = 0, int nbits = 0, bool fs = false,
                int levels = 0) {
  CodecSpec c;
  c.kind = kind;
  c.m = m;
  c.nbits = nbits;
  c.fast_scan = fs;
  c.levels = levels;
  return c;
}

// Bytes per vector of a codec on w dimensions (docs/spec.md), for deciding
// which codecs are coarse enough to be worth refining.
double CodecBytes(const CodecSpec& c, int w) {
  switch (c.kind) {
    case CodecKind::kFlat:
      return 4.0 * w;
    case CodecKind::kFP16:
      return 2.0 * w;
    case CodecKind::kSQ8:
    case CodecKind::kFP8E4M3:
    case CodecKind::kFP8E5M2:
      return w;
    case CodecKind::kPQ:
      return c.nbits == 4 ? (c.m + 1) / 2 : c.m;
    case CodecKind::kRQ:
      return (c.m * c.nbits + 7) / 8 + 1;
    case CodecKind::kRBQ:
      return c.levels * ((w + 7) / 8) + 4;
    case CodecKind::kRaBitQ:
      return c.nbits * ((w + 7) / 8) + 12;
  }
  return 4.0 * w;
}

// Multiply-adds to train a codec on n vectors of w dims and encode them,
// calibrated roughly on siftsmall (docs/codecs.md train times).
double CodecCost(const CodecSpec& c, int w, double n) {
  switch (c.kind) {
    case CodecKind::kPQ:
      return 26.0 * n * std::ldexp(1.0, c.nbits) * w;
    case CodecKind::kRQ:
      return 1.25 * c.m * n * std::ldexp(1.0, c.nbits) * w;
    case CodecKind::kRBQ:
      return (10.0 + 5.0 * c.levels) * n * w * w;
    case CodecKind::kRaBitQ:
      // One random rotation (an SVD) and a rotation per vector.
      return 2.0 * n * w * w + 10.0 * double(w) * w * w;
    default:
      return 2.0 * n * w;
  }
}

}  // namespace

int AdvisorNlist(size_t n_base) {
  const double root = std::sqrt(double(n_base));
  const int p = int(std::lround(std::log2(std::max(root, 1.0))));
  return std::max(16, 1 << p);
}

double EstimateRamCodeBytes(const IndexSpec& spec, int dim) {
  const int w = spec.pca_dim > 0 ? spec.pca_dim : dim;
  double bytes = CodecBytes(spec.codec, w);
  if (spec.ram_refine) bytes += CodecBytes(*spec.ram_refine, dim);
  if (spec.refine && spec.refine->kind != CodecKind::kFlat) {
    bytes += CodecBytes(*spec.refine, dim);
  }
  return bytes;
}

double EstimateAdvisorCost(const IndexSpec& spec, int dim, size_t n_base,
                           size_t n_queries) {
  const double n = double(n_base);
  const double nq = double(n_queries);
  const int w = spec.pca_dim > 0 ? spec.pca_dim : dim;
  double cost = CodecCost(spec.codec, w, n);
  if (spec.pca_dim > 0) cost += n * dim * dim + double(dim) * dim * dim;
  // Coarse k-means is one large BLAS product per iteration: cheap per
  // multiply-add compared with PQ's many small ones.
  if (spec.ivf_nlist > 0) cost += 2.5 * n * spec.ivf_nlist * w;
  // Refine stages: encoding, then the refine_factor sweep (and the
  // ram_refine_factor grid) repeats the searches.
  double searches = 1;
  if (spec.refine) {
    cost += 2.0 * n * dim + nq * 80.0 * dim;
    searches = 3;
  }
  if (spec.ram_refine) {
    cost += 2.0 * n * dim + nq * 400.0 * dim;
    searches = 5;
  }
  // Searching: a recall pass and a timed single-query pass per setting (the
  // nprobe sweep of IVF scans about half the lists in total).
  cost += searches * 2.0 * nq * n * w * (spec.ivf_nlist > 0 ? 0.5 : 1.0);
  return cost;
}

std::vector<AdvisorCandidate> MakeAdvisorCandidates(
    int dim, size_t n_base, size_t n_queries, size_t min_ivf_sample,
    std::optional<double> max_ram_bytes) {
  std::vector<IndexSpec> bases;
  auto add = [&bases](int pca, CodecSpec codec) {
    IndexSpec s;
    s.pca_dim = pca;
    s.codec = codec;
    bases.push_back(s);
  };
  // Scalar codecs in the original space (essential).
  for (CodecKind k : {CodecKind::kFlat, CodecKind::kFP16, CodecKind::kSQ8,
                      CodecKind::kFP8E4M3, CodecKind::kFP8E5M2}) {
    add(0, Codec(k));
  }
  const size_t num_essential = bases.size();
  // PCA widths with the scalar codecs.
  for (int div : {2, 4, 8}) {
    const int w = dim / div;
    if (w < 8 || w >= dim) continue;
    for (CodecKind k : {CodecKind::kSQ8, CodecKind::kFP8E4M3,
                        CodecKind::kFP16}) {
      add(w, Codec(k));
    }
  }
  // PQ: sub-vectors of 2, 4 and 8 dimensions.
  for (int dsub : {2, 4, 8}) {
    if (dim % dsub != 0) continue;
    const int m = dim / dsub;
    if (m < 4) continue;
    if (dsub <= 4) add(0, Codec(CodecKind::kPQ, m, 4, /*fs=*/true));
    if (dsub >= 4 && m <= 64) add(0, Codec(CodecKind::kPQ, m, 8));
  }
  add(0, Codec(CodecKind::kRQ, 8, 8));
  add(0, Codec(CodecKind::kRQ, 16, 8));
  for (int b : {1, 2, 4}) {
    add(0, Codec(CodecKind::kRBQ, 0, 0, false, b));
  }
  for (int b : {1, 2, 4}) {
    if (dim <= 4096) add(0, Codec(CodecKind::kRaBitQ, 0, b));
  }

  // Refined variants of the coarse codecs (fewer bytes than SQ8's d).
  std::vector<IndexSpec> specs;
  for (const IndexSpec& s : bases) {
    specs.push_back(s);
    const int w = s.pca_dim > 0 ? s.pca_dim : dim;
    if (CodecBytes(s.codec, w) >= dim) continue;
    for (CodecKind r :
         {CodecKind::kSQ8, CodecKind::kFP8E4M3, CodecKind::kFlat}) {
      IndexSpec refined = s;
      refined.refine = Codec(r);
      specs.push_back(refined);
    }
    // Fast scan is cheap per candidate: it can afford the many candidates a
    // RAM tier narrows before the disk reads.
    if (s.codec.kind == CodecKind::kPQ && s.codec.fast_scan) {
      IndexSpec two_stage = s;
      two_stage.ram_refine = Codec(CodecKind::kSQ8);
      two_stage.refine = Codec(CodecKind::kFlat);
      specs.push_back(two_stage);
    }
  }
  if (n_base >= min_ivf_sample) {
    const int nlist = AdvisorNlist(n_base);
    const size_t flat_count = specs.size();
    for (size_t i = 0; i < flat_count; ++i) {
      IndexSpec ivf = specs[i];
      ivf.ivf_nlist = nlist;
      specs.push_back(ivf);
    }
  }

  std::vector<AdvisorCandidate> out;
  out.reserve(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    AdvisorCandidate c;
    c.spec = specs[i];
    c.cost = EstimateAdvisorCost(specs[i], dim, n_base, n_queries);
    // The first bases are the scalar codecs without IVF or refine.
    c.essential = i < num_essential;
    if (!c.essential && max_ram_bytes &&
        EstimateRamCodeBytes(c.spec, dim) > *max_ram_bytes) {
      continue;
    }
    out.push_back(c);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const AdvisorCandidate& a, const AdvisorCandidate& b) {
                     if (a.essential != b.essential) return a.essential;
                     return a.cost < b.cost;
                   });
  return out;
}

}  // namespace qvdb
