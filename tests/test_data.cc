#include "tests/test_data.h"

#include <cmath>
#include <random>

#include "index/search/ground_truth.h"

namespace qvdb::testing {
namespace {

Matrix<float> Clustered(size_t n, int d, const GenerateOptions& o,
                        std::mt19937_64& rng,
                        const std::vector<float>& centers) {
  const int nclusters = o.nclusters;
  std::normal_distribution<float> gauss(0, 1);
  std::uniform_int_distribution<int> pick(0, nclusters - 1);
  Matrix<float> m;
  m.rows = n;
  m.cols = d;
  m.data.resize(n * d);
  for (size_t i = 0; i < n; ++i) {
    const float* c = centers.data() + size_t(pick(rng)) * d;
    for (int j = 0; j < d; ++j) {
      // Decaying spectrum: later dimensions carry less variance.
      const float scale = 1.0f / std::sqrt(1.0f + o.decay * j);
      m.data[i * d + j] = c[j] + o.noise * scale * gauss(rng);
    }
  }
  return m;
}

Dataset Load(const std::string& name, const std::string& dir,
             const std::string& base, const std::string& query,
             const std::string& truth, Metric metric, size_t n, size_t nq,
             int d) {
  auto b = ReadFvecs(dir + base);
  auto q = ReadFvecs(dir + query);
  auto t = ReadIvecs(dir + truth);
  if (b.ok() && q.ok() && t.ok()) {
    return Dataset{name, metric, *std::move(b), *std::move(q), *std::move(t),
                   false};
  }
  Dataset g = Generate(n, nq, d, metric, 1234);
  g.name = name + " (generated stand-in)";
  return g;
}

}  // namespace

Dataset Generate(size_t n, size_t nq, int d, Metric metric, uint64_t seed,
                 const GenerateOptions& options) {
  std::mt19937_64 rng(seed);
  const int nclusters = options.nclusters;
  std::normal_distribution<float> gauss(0, 1);
  std::vector<float> centers(size_t(nclusters) * d);
  for (int j = 0; j < nclusters * d; ++j) {
    centers[j] = 2.0f * gauss(rng) / std::sqrt(1.0f + options.decay * (j % d));
  }
  Dataset ds;
  ds.name = "generated";
  ds.metric = metric;
  ds.generated = true;
  ds.base = Clustered(n, d, options, rng, centers);
  ds.queries = Clustered(nq, d, options, rng, centers);
  if (metric == Metric::kCosine) {
    NormalizeRows(ds.base.data.data(), n, d);
    NormalizeRows(ds.queries.data.data(), nq, d);
  }
  ds.truth = ExactKnn(ds.base, ds.queries, std::min<size_t>(100, n), metric);
  return ds;
}

Dataset LoadSiftSmall() {
  return Load("siftsmall", "../shared/datasets/siftsmall/",
              "siftsmall_base.fvecs", "siftsmall_query.fvecs",
              "siftsmall_groundtruth.ivecs", Metric::kL2, 10000, 100, 128);
}

Dataset LoadSapMinilm() {
  return Load("sap_minilm", "../shared/datasets/sap_minilm/",
              "sap_minilm_base.fvecs", "sap_minilm_query.fvecs",
              "sap_minilm_groundtruth_cos.ivecs", Metric::kCosine, 700, 78,
              384);
}

}  // namespace qvdb::testing
