#include "index/search/flat_search.h"

#include <algorithm>
#include <limits>
#include <thread>

#include "index/search/top_k.h"

namespace qvdb {
namespace {

constexpr size_t kBlock = 1024;  // codes scored per QueryDistance call

void SearchOne(const Codec& codec, const uint8_t* codes, size_t n,
               const float* query, int k, Metric metric, int64_t* ids,
               float* distances) {
  std::vector<float> q(query, query + codec.dim());
  if (metric == Metric::kCosine) NormalizeRows(q.data(), 1, codec.dim());
  auto qd = codec.MakeQueryDistance(q.data(), CodecMetric(metric));
  TopK top(k);
  std::vector<float> block(kBlock);
  const size_t cs = codec.code_size();
  for (size_t start = 0; start < n; start += kBlock) {
    const size_t m = std::min(kBlock, n - start);
    qd->Distances(codes + start * cs, m, block.data());
    for (size_t i = 0; i < m; ++i) top.Push(block[i], int64_t(start + i));
  }
  top.Finish(ids, distances);
}

}  // namespace

SearchResults FlatSearch(const Codec& codec, const uint8_t* codes, size_t n,
                         const float* queries, size_t nq, int k, Metric metric,
                         int num_threads) {
  SearchResults r;
  r.k = k;
  r.ids.assign(nq * k, -1);
  r.distances.assign(nq * k, std::numeric_limits<float>::infinity());
  if (num_threads <= 0) num_threads = std::thread::hardware_concurrency();
  num_threads = std::max(1, std::min<int>(num_threads, nq));
  std::vector<std::thread> workers;
  for (int t = 0; t < num_threads; ++t) {
    workers.emplace_back([&, t] {
      for (size_t q = t; q < nq; q += num_threads) {
        SearchOne(codec, codes, n, queries + q * codec.dim(), k, metric,
                  &r.ids[q * k], &r.distances[q * k]);
      }
    });
  }
  for (auto& w : workers) w.join();
  return r;
}

}  // namespace qvdb
