#include "index/vector_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <set>
#include <span>
#include <unordered_set>
#include <thread>

#include "base/byte_io.h"
#include "index/codecs/codec_factory.h"
#include "index/ivf/ivf_index.h"
#include "index/ivf/ivf_index_internal.h"
#include "index/search/ground_truth.h"
#include "tests/test_data.h"

namespace qvdb {
namespace {

using testing::Dataset;

std::unique_ptr<VectorIndex> Build(const std::string& spec, const Dataset& ds,
                                   size_t n = 0) {
  if (n == 0) n = ds.base.rows;
  auto parsed = ParseIndexSpec(spec);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  auto index = CreateVectorIndex(*parsed, ds.base.cols, ds.metric);
  EXPECT_TRUE(index.ok()) << index.status();
  EXPECT_TRUE((*index)->Train(ds.base.data.data(), n).ok());
  std::vector<int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  EXPECT_TRUE((*index)->Add(ids.data(), ds.base.data.data(), n).ok());
  return *std::move(index);
}

SearchResults MustSearch(const VectorIndex& index, const Dataset& ds,
                         const SearchParams& p) {
  auto r = index.Search(ds.queries.data.data(), ds.queries.rows, p);
  EXPECT_TRUE(r.ok()) << r.status();
  return *std::move(r);
}

TEST(IvfIndexTest, FastScanWithRefineReachesTheRecallFaissReaches) {
  const Dataset ds = testing::LoadSiftSmall();
  auto index = Build("IVF64,PQ32x4fs,Refine(Flat)", ds);
  SearchParams p;
  p.k = 10;
  p.nprobe = 8;
  p.refine_factor = 4;
  const double recall = RecallAtK(MustSearch(*index, ds, p).ids, 10, ds.truth, 10);
  std::cout << ds.name << " IVF64,PQ32x4fs,Refine(Flat) nprobe 8 rf 4: "
            << "recall@10 " << recall << "\n";
  EXPECT_GE(recall, ds.generated ? 0.85 : 0.93);
}

// Serves Flat refine codes (the float32 vectors) from outside the index, as
// the server's refine file does, and counts the candidates it was asked for.
class CountingFlatSource : public RefineCodeSource {
 public:
  explicit CountingFlatSource(const Dataset& ds) : ds_(ds) {}
  void Fetch(const int64_t* ids, size_t n, uint8_t* out,
             std::vector<bool>* found) const override {
    fetched_ += n;
    const size_t bytes = ds_.base.cols * sizeof(float);
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(out + i * bytes,
                  &ds_.base.data[size_t(ids[i]) * ds_.base.cols], bytes);
      (*found)[i] = true;
    }
  }
  size_t fetched() const { return fetched_; }

 private:
  const Dataset& ds_;
  mutable std::atomic<size_t> fetched_{0};
};

// Issue 12: a RAM tier (SQ8) between the scan and the Flat stage keeps the
// recall of re-ranking many candidates with Flat while the Flat stage (the
// disk tier in the server) reads only k * refine_factor of them.
TEST(IvfIndexTest, RamTierKeepsRecallWhileTheLastStageReadsFewCandidates) {
  const Dataset ds = testing::LoadSiftSmall();
  auto one = Build("IVF64,PQ32x4fs,Refine(Flat)", ds);
  auto two = Build("IVF64,PQ32x4fs,Refine(SQ8),Refine(Flat)", ds);
  CountingFlatSource source(ds);
  two->SetRefineCodeSource(&source);
  EXPECT_EQ(two->ram_refine_code_size(), size_t(ds.base.cols));
  EXPECT_EQ(two->refine_code_size(), ds.base.cols * sizeof(float));
  SearchParams p;
  p.k = 10;
  p.nprobe = 16;
  p.refine_factor = 16;
  const double flat_only =
      RecallAtK(MustSearch(*one, ds, p).ids, 10, ds.truth, 10);
  p.ram_refine_factor = 16;
  p.refine_factor = 2;
  const double tiered =
      RecallAtK(MustSearch(*two, ds, p).ids, 10, ds.truth, 10);
  std::cout << "R@10 Refine(Flat) rf 16: " << flat_only
            << ", Refine(SQ8),Refine(Flat) 16/2: " << tiered << "\n";
  EXPECT_GE(tiered, flat_only - 0.01);
  // The last stage read k * refine_factor candidates per query, not 160.
  EXPECT_EQ(source.fetched(), ds.queries.rows * size_t(p.k * p.refine_factor));
  // Batch and single queries agree on the tiered path too.
  const SearchResults batch = MustSearch(*two, ds, p);
  for (size_t q = 0; q < 5; ++q) {
    auto single = two->Search(&ds.queries.data[q * ds.queries.cols], 1, p);
    ASSERT_TRUE(single.ok());
    EXPECT_TRUE(std::equal(single->ids.begin(), single->ids.end(),
                           batch.ids.begin() + q * p.k));
  }
}

TEST(IvfIndexTest, FastScanReturnsWhatTheGenericScanReturns) {
  const Dataset ds = testing::LoadSiftSmall();
  auto fast = Build("IVF32,PQ16x4fs", ds);
  auto generic = Build("IVF32,PQ16x4", ds);
  for (int nprobe : {1, 4, 32}) {
    SearchParams p;
    p.k = 20;
    p.nprobe = nprobe;
    const SearchResults a = MustSearch(*fast, ds, p);
    const SearchResults b = MustSearch(*generic, ds, p);
    size_t same = 0;
    for (size_t i = 0; i < a.ids.size(); ++i) {
      same += a.ids[i] == b.ids[i];
      EXPECT_NEAR(a.distances[i], b.distances[i],
                  1e-4f * std::abs(b.distances[i]) + 1e-3f);
    }
    // Equal distances may order ties differently; nothing else may differ.
    EXPECT_GE(same, a.ids.size() * 99 / 100) << "nprobe " << nprobe;
  }
}

TEST(IvfIndexTest, FlatSpecIsExactSearch) {
  for (const Dataset& ds : {testing::LoadSiftSmall(), testing::LoadSapMinilm()}) {
    auto index = Build("Flat", ds);
    SearchParams p;
    p.k = 10;
    EXPECT_GE(RecallAtK(MustSearch(*index, ds, p).ids, 10, ds.truth, 10), 0.999)
        << ds.name;
  }
}

TEST(IvfIndexTest, BatchAndSingleQueriesAgree) {
  const Dataset ds = testing::LoadSiftSmall();
  auto index = Build("IVF64,PQ32x4fs,Refine(SQ8)", ds);
  SearchParams p;
  p.k = 10;
  p.nprobe = 6;
  const SearchResults batch = MustSearch(*index, ds, p);
  for (size_t q = 0; q < ds.queries.rows; ++q) {
    auto one = index->Search(ds.queries.row(q), 1, p);
    ASSERT_TRUE(one.ok());
    for (int i = 0; i < 10; ++i) {
      EXPECT_EQ(one->ids[i], batch.ids[q * 10 + i]) << "query " << q;
    }
  }
}

// Every search path (per-list tables for residual L2, one table per query
// for inner product and flat fast scan, the generic scanner) returns the same
// ids and distances for a query alone as in a batch, whose lists are scanned
// in another order and shared between queries.
TEST(IvfIndexTest, BatchAndSingleQueriesAreIdenticalOnEveryPath) {
  const Dataset sift = testing::LoadSiftSmall();
  const Dataset minilm = testing::LoadSapMinilm();
  const std::pair<const char*, const Dataset*> cases[] = {
      {"IVF32,PQ32x4fs,Refine(Flat)", &sift},  // per-list tables, refine
      {"IVF32,PQ16x4fs", &sift},               // per-list tables, re-score
      {"PQ16x4fs", &sift},                     // flat: one table per query
      {"IVF8,PQ48x4fs", &minilm},              // inner product: per query
      {"IVF16,PQ16x8", &sift},                 // the generic scanner
      {"IVF16,RaBitQ1", &sift},                // RaBitQ, 1-bit blocks
      {"IVF8,RaBitQ2,Refine(Flat)", &minilm},  // RaBitQ packed, pruning
  };
  for (const auto& [spec, ds] : cases) {
    auto index = Build(spec, *ds, std::min<size_t>(ds->base.rows, 3000));
    SearchParams p;
    p.k = 10;
    p.nprobe = 5;
    p.num_threads = 1;
    const SearchResults batch = MustSearch(*index, *ds, p);
    for (size_t q = 0; q < ds->queries.rows; ++q) {
      auto one = index->Search(ds->queries.row(q), 1, p);
      ASSERT_TRUE(one.ok());
      for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(one->ids[i], batch.ids[q * 10 + i]) << spec << " query " << q;
        ASSERT_EQ(one->distances[i], batch.distances[q * 10 + i])
            << spec << " query " << q;
      }
    }
  }
}

TEST(IvfIndexTest, FilterReturnsOnlyAllowedIdsWithRecallOnTheSubset) {
  const Dataset ds = testing::LoadSiftSmall();
  auto index = Build("IVF64,PQ32x4fs,Refine(Flat)", ds);
  // Allow every third id; exact truth over the allowed subset.
  SetFilter allowed;
  Matrix<float> subset;
  subset.cols = ds.base.cols;
  std::vector<int64_t> subset_ids;
  for (size_t i = 0; i < ds.base.rows; i += 3) {
    allowed.Insert(int64_t(i));
    subset.data.insert(subset.data.end(), ds.base.row(i), ds.base.row(i) + ds.base.cols);
    subset_ids.push_back(i);
  }
  subset.rows = subset_ids.size();
  Matrix<int32_t> truth = ExactKnn(subset, ds.queries, 10, ds.metric);
  for (int32_t& id : truth.data) id = int32_t(subset_ids[id]);

  SearchParams p;
  p.k = 10;
  p.nprobe = 16;
  p.filter = &allowed;
  const SearchResults r = MustSearch(*index, ds, p);
  for (int64_t id : r.ids) {
    ASSERT_GE(id, 0);
    EXPECT_TRUE(allowed.Contains(id)) << id;
  }
  const double recall = RecallAtK(r.ids, 10, truth, 10);
  std::cout << "filtered recall@10 on the allowed third: " << recall << "\n";
  EXPECT_GE(recall, ds.generated ? 0.85 : 0.93);
}

// SearchAmong scores exactly the rows it is given: every spec shape (RAM
// tier, one Refine stage, fast-scan codes re-scored exactly, plain codes)
// reaches high recall against exact truth over those rows, returns none
// other, and skips a row removed since.
TEST(IvfIndexTest, SearchAmongScoresOnlyTheGivenRows) {
  const Dataset ds = testing::LoadSiftSmall();
  // 1 % of the rows, spread over the lists.
  std::vector<int64_t> among;
  Matrix<float> subset;
  subset.cols = ds.base.cols;
  for (size_t i = 0; i < ds.base.rows; i += 97) {
    among.push_back(int64_t(i));
    subset.data.insert(subset.data.end(), ds.base.row(i),
                       ds.base.row(i) + ds.base.cols);
  }
  subset.rows = among.size();
  Matrix<int32_t> truth = ExactKnn(subset, ds.queries, 10, ds.metric);
  for (int32_t& id : truth.data) id = int32_t(among[size_t(id)]);
  const std::set<int64_t> allowed(among.begin(), among.end());
  for (const char* spec :
       {"IVF64,PQ16x4fs,Refine(SQ8),Refine(Flat)", "IVF64,PQ32,Refine(SQ8)",
        "IVF64,PQ32x4fs", "IVF64,SQ8"}) {
    auto index = Build(spec, ds);
    SearchParams p;
    p.k = 10;
    p.refine_factor = 4;
    auto r = index->SearchAmong(ds.queries.data.data(), ds.queries.rows,
                                among, p);
    ASSERT_TRUE(r.ok()) << spec << ": " << r.status();
    for (int64_t id : r->ids) {
      ASSERT_TRUE(allowed.count(id)) << spec << ": id " << id;
    }
    const double recall = RecallAtK(r->ids, 10, truth, 10);
    std::cout << spec << " SearchAmong 1% recall@10 " << recall << "\n";
    // 4-bit PQ alone ranks by its own coarse distance (0.83 here, the
    // codes' accuracy, not the subset's); the others are near exact.
    EXPECT_GE(recall, std::string(spec) == "IVF64,PQ32x4fs" ? 0.75 : 0.95)
        << spec;
    // A row removed since is not scored, even though its RAM codes remain.
    const int64_t best = r->ids[0];
    index->Remove(&best, 1);
    auto again = index->SearchAmong(ds.queries.data.data(), 1, among, p);
    ASSERT_TRUE(again.ok());
    for (int64_t id : again->ids) EXPECT_NE(id, best) << spec;
  }
}

// The selection (nprobe above 128) picks what insertion picks, ties
// (repeated distances) to the lower list included.
TEST(IvfIndexTest, SelectNearestSortsAsInsertionDoes) {
  std::mt19937 rng(3);
  constexpr int kLists = 1024;
  std::vector<float> dist(kLists);
  for (float& d : dist) d = float(rng() % 200);  // many ties
  for (int nprobe : {1, 8, 128, 129, 300, kLists - 1, kLists}) {
    std::vector<int32_t> want_lists(nprobe), got_lists(nprobe);
    std::vector<float> want_dists(nprobe), got_dists(nprobe);
    int have = 0;
    for (int l = 0; l < kLists; ++l) {
      InsertNearest(dist[l], l, nprobe, &have, want_lists.data(),
                    want_dists.data());
    }
    SelectNearest(dist.data(), kLists, nprobe, got_lists.data(),
                  got_dists.data());
    EXPECT_EQ(got_lists, want_lists) << "nprobe " << nprobe;
    EXPECT_EQ(got_dists, want_dists) << "nprobe " << nprobe;
  }
}

// CountInProbedLists against a search that returns every allowed row of
// the lists it probes (k above the rows, no Refine).
TEST(IvfIndexTest, CountInProbedListsCountsTheRowsASearchWouldScan) {
  const Dataset ds = testing::LoadSiftSmall();
  std::vector<int64_t> sample;
  for (size_t i = 0; i < ds.base.rows; i += 13) sample.push_back(int64_t(i));
  sample.push_back(int64_t(ds.base.rows) + 5);  // not held: not counted
  const SetFilter allowed(
      std::unordered_set<int64_t>(sample.begin(), sample.end()));
  constexpr size_t kQueries = 20;
  for (const char* spec : {"IVF64,Flat", "PCA32,IVF16,SQ8"}) {
    auto index = Build(spec, ds);
    for (int nprobe : {1, 3, 64}) {
      auto counts = index->CountInProbedLists(ds.queries.data.data(),
                                              kQueries, sample, nprobe);
      ASSERT_TRUE(counts.ok()) << spec << ": " << counts.status();
      ASSERT_EQ(counts->size(), kQueries);
      SearchParams p;
      p.k = int(ds.base.rows);
      p.nprobe = nprobe;
      p.filter = &allowed;
      auto r = index->Search(ds.queries.data.data(), kQueries, p);
      ASSERT_TRUE(r.ok()) << r.status();
      for (size_t q = 0; q < kQueries; ++q) {
        const auto row = std::span(r->ids).subspan(q * size_t(p.k), p.k);
        const auto scanned = size_t(
            std::count_if(row.begin(), row.end(), [](int64_t id) { return id >= 0; }));
        EXPECT_EQ((*counts)[q], scanned) << spec << " nprobe " << nprobe;
      }
      // Every list probed: every held id counts.
      if (nprobe == 64) {
        EXPECT_EQ((*counts)[0], sample.size() - 1) << spec;
      }
    }
  }
  // What a search refuses, this refuses.
  auto index = Build("IVF64,Flat", ds);
  EXPECT_TRUE(absl::IsInvalidArgument(
      index->CountInProbedLists(ds.queries.data.data(), 1, sample, 0).status()));
  std::vector<float> nan(ds.base.cols, std::nanf(""));
  EXPECT_TRUE(absl::IsInvalidArgument(
      index->CountInProbedLists(nan.data(), 1, sample, 4).status()));
}

TEST(IvfIndexTest, RemovedIdsDisappearAtOnceAndCompactionKeepsResults) {
  const Dataset ds = testing::LoadSiftSmall();
  auto index = Build("IVF32,PQ16x4fs,Refine(Flat)", ds);
  SearchParams p;
  p.k = 10;
  p.nprobe = 8;
  const SearchResults before = MustSearch(*index, ds, p);
  // Remove every id the first search returned.
  std::vector<int64_t> removed;
  for (int64_t id : before.ids) if (id >= 0) removed.push_back(id);
  index->Remove(removed.data(), removed.size());
  EXPECT_EQ(index->size(), ds.base.rows - std::set<int64_t>(removed.begin(), removed.end()).size());
  const SearchResults after = MustSearch(*index, ds, p);
  const std::set<int64_t> gone(removed.begin(), removed.end());
  for (int64_t id : after.ids) EXPECT_EQ(gone.count(id), 0u) << id;
  index->Compact();
  const SearchResults compacted = MustSearch(*index, ds, p);
  EXPECT_EQ(compacted.ids, after.ids);
}

TEST(IvfIndexTest, UpsertReplacesTheOldVector) {
  const Dataset ds = testing::LoadSiftSmall();
  auto index = Build("IVF16,SQ8", ds, 2000);
  // Move id 5 onto query 0: it must now be query 0's nearest neighbour.
  const int64_t id = 5;
  ASSERT_TRUE(index->Add(&id, ds.queries.row(0), 1).ok());
  EXPECT_EQ(index->size(), 2000u);
  SearchParams p;
  p.k = 1;
  p.nprobe = 16;
  auto r = index->Search(ds.queries.row(0), 1, p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ids[0], 5);
}

TEST(IvfIndexTest, ModelRoundTripGivesIdenticalResults) {
  const Dataset ds = testing::LoadSapMinilm();
  for (const char* spec : {"PCA128,IVF16,PQ32x4fs,Refine(FP8E4M3)",
                           "IVF8,RBQ2,Refine(Flat)", "RBQ1", "PCA64R,SQ8",
                           "IVF16,PQ16x4fs,Refine(SQ8),Refine(Flat)"}) {
    auto index = Build(spec, ds);
    auto copy = CreateVectorIndex(*ParseIndexSpec(spec), ds.base.cols, ds.metric);
    ASSERT_TRUE(copy.ok());
    ASSERT_TRUE((*copy)->LoadModel(index->SerializeModel()).ok()) << spec;
    auto enc = (*copy)->Encode(ds.base.data.data(), ds.base.rows);
    ASSERT_TRUE(enc.ok());
    std::vector<int64_t> ids(ds.base.rows);
    std::iota(ids.begin(), ids.end(), 0);
    ASSERT_TRUE((*copy)->AddEncoded(ids.data(), *enc).ok());
    SearchParams p;
    p.k = 10;
    p.nprobe = 4;
    const SearchResults a = MustSearch(*index, ds, p);
    const SearchResults b = MustSearch(**copy, ds, p);
    EXPECT_EQ(a.ids, b.ids) << spec;
    EXPECT_EQ(a.distances, b.distances) << spec;
    std::cout << spec << " recall@10 " << RecallAtK(a.ids, 10, ds.truth, 10)
              << "\n";
  }
}

TEST(IvfIndexTest, CorruptOrForeignModelsAreRejected) {
  const Dataset ds = testing::LoadSiftSmall();
  auto index = Build("IVF16,PQ16x8", ds, 3000);
  const std::string model = index->SerializeModel();
  auto other = CreateVectorIndex(*ParseIndexSpec("IVF16,PQ16x8"), ds.base.cols, ds.metric);
  ASSERT_TRUE(other.ok());
  for (size_t len : {size_t(0), size_t(3), size_t(20), model.size() / 2, model.size() - 1}) {
    EXPECT_FALSE((*other)->LoadModel(model.substr(0, len)).ok()) << len;
  }
  auto mismatched = CreateVectorIndex(*ParseIndexSpec("IVF32,PQ16x8"), ds.base.cols, ds.metric);
  ASSERT_TRUE(mismatched.ok());
  EXPECT_FALSE((*mismatched)->LoadModel(model).ok());
}

// The model of `index` ("IVF<n>,<codec>", no PCA, no Refine) with its codec
// bytes replaced: what a damaged or foreign model looks like.
std::string WithCodec(const std::string& model, int nlist, int work_dim,
                      const std::string& codec_bytes) {
  ByteReader r(model);
  uint32_t magic = 0, version = 0;
  std::string spec, old_codec;
  int32_t dim = 0, metric = 0;
  std::vector<float> centroids;
  EXPECT_TRUE(r.Get(&magic).ok() && r.Get(&version).ok() &&
              r.GetString(&spec).ok() && r.Get(&dim).ok() &&
              r.Get(&metric).ok() &&
              r.GetArray(&centroids, size_t(nlist) * work_dim).ok() &&
              r.GetString(&old_codec).ok());
  ByteWriter w;
  w.Put(magic);
  w.Put(version);
  w.PutString(spec);
  w.Put(dim);
  w.Put(metric);
  w.PutArray(centroids);
  w.PutString(codec_bytes);
  return w.Release();
}

// Issue 16, defect 7: the spec string does not name the dimension, so a PQ
// codec of another dimension passed LoadModel and read out of bounds.
TEST(IvfIndexTest, LoadModelRejectsCodecOfAnotherDimension) {
  const Dataset ds = testing::Generate(2000, 1, 16, Metric::kL2, 7);
  auto index = Build("IVF4,PQ4x8", ds);
  const std::string model = index->SerializeModel();
  // The same codec spec, trained on 32 dimensions.
  const Dataset wide = testing::Generate(2000, 1, 32, Metric::kL2, 8);
  auto pq32 = MakeCodecFromString("PQ4x8", 32);
  ASSERT_TRUE(pq32.ok());
  ASSERT_TRUE((*pq32)->Train(wide.base.data.data(), wide.base.rows).ok());
  const std::string bad = WithCodec(model, 4, 16, SerializeCodec(**pq32));
  auto copy = CreateVectorIndex(*ParseIndexSpec("IVF4,PQ4x8"), 16, ds.metric);
  ASSERT_TRUE(copy.ok());
  const absl::Status st = (*copy)->LoadModel(bad);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(std::string(st.message()).find("32 dimensions"), std::string::npos)
      << st;
  // The genuine model still loads.
  EXPECT_TRUE((*copy)->LoadModel(model).ok());
}

// Issue 16, defect 7: PQ and RQ accepted an untrained state in a model.
TEST(IvfIndexTest, LoadModelRejectsUntrainedPqOrRqState) {
  const Dataset ds = testing::Generate(2000, 1, 16, Metric::kL2, 9);
  for (const char* codec : {"PQ4x8", "RQ2x8"}) {
    const std::string spec = std::string("IVF4,") + codec;
    auto index = Build(spec, ds);
    auto untrained = MakeCodecFromString(codec, 16);
    ASSERT_TRUE(untrained.ok()) << codec;
    const std::string bad = WithCodec(index->SerializeModel(), 4, 16,
                                      SerializeCodec(**untrained));
    auto copy = CreateVectorIndex(*ParseIndexSpec(spec), 16, ds.metric);
    ASSERT_TRUE(copy.ok());
    const absl::Status st = (*copy)->LoadModel(bad);
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << codec << " " << st;
    EXPECT_NE(std::string(st.message()).find("untrained"), std::string::npos)
        << st;
  }
}

// A centroid near 1e30 (finite) made residuals overflow Faiss's RQ beam
// search, which then read out of bounds (found by the ivf_model fuzzer).
TEST(IvfIndexTest, LoadModelRejectsHugeCentroids) {
  const Dataset ds = testing::Generate(2000, 1, 16, Metric::kL2, 9);
  auto index = Build("IVF4,RQ2x8", ds);
  std::string bytes = index->SerializeModel();
  const auto* ivf = dynamic_cast<const IvfIndex*>(index.get());
  ASSERT_NE(ivf, nullptr);
  const std::vector<float>& centroids = *ivf->model_view().centroids;
  const size_t at = bytes.find(std::string(
      reinterpret_cast<const char*>(centroids.data()), 16 * sizeof(float)));
  ASSERT_NE(at, std::string::npos);
  const float huge = 3e30f;
  std::memcpy(bytes.data() + at, &huge, sizeof(huge));
  auto copy = CreateVectorIndex(*ParseIndexSpec("IVF4,RQ2x8"), 16, ds.metric);
  ASSERT_TRUE(copy.ok());
  const absl::Status st = (*copy)->LoadModel(bytes);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(std::string(st.message()).find("centroid"), std::string::npos)
      << st;
}

// Issue 16, defect 5: the id -> position map and the in-RAM refine codes
// were sized by the highest id ever added, so a rolling window of inserts
// and deletes grew them without bound; Compact now trims them to the live
// ids.
TEST(IvfIndexTest, RollingWindowKeepsIdMapsSizedByLiveRows) {
  constexpr int kDim = 16;
  constexpr size_t kWindow = 1000;
  const Dataset ds = testing::Generate(kWindow * 2, 1, kDim, Metric::kL2, 11);
  for (const char* spec :
       {"IVF4,SQ8,Refine(FP16)", "IVF4,SQ8,Refine(SQ8),Refine(FP16)"}) {
    SCOPED_TRACE(spec);
    auto index = CreateVectorIndex(*ParseIndexSpec(spec), kDim, ds.metric);
    ASSERT_TRUE(index.ok());
    ASSERT_TRUE((*index)->Train(ds.base.data.data(), ds.base.rows).ok());
    auto add_window = [&](int64_t first) {
      std::vector<int64_t> ids(kWindow);
      std::iota(ids.begin(), ids.end(), first);
      EXPECT_TRUE((*index)->Add(ids.data(), ds.base.data.data(), kWindow).ok());
      return ids;
    };
    std::vector<int64_t> live = add_window(0);
    const size_t one_window = (*index)->memory_bytes();
    for (int64_t round = 1; round <= 50; ++round) {
      const std::vector<int64_t> next = add_window(round * int64_t(kWindow));
      (*index)->Remove(live.data(), live.size());
      (*index)->Compact();
      live = next;
    }
    EXPECT_EQ((*index)->size(), kWindow);
    EXPECT_LT((*index)->memory_bytes(), one_window * 3 / 2)
        << "one window costs " << one_window;
    // Refine codes are still found: each live vector is its own nearest.
    SearchParams p;
    p.k = 1;
    p.nprobe = 4;
    p.refine_factor = 4;
    auto r = (*index)->Search(ds.base.data.data() + 7 * kDim, 1, p);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->ids[0], live[7]);
  }
}

// Issue 16, defect 4: search scratch grew with k x refine_factor and up to
// 64 pooled scratches kept the largest size any search ever needed.
TEST(IvfIndexTest, SearchScratchIsBoundedAfterALargeSearch) {
  constexpr int kDim = 16;
  const Dataset ds = testing::Generate(20000, 4, kDim, Metric::kL2, 13);
  auto index = Build("IVF4,SQ8,Refine(FP16)", ds);
  const auto* ivf = dynamic_cast<const IvfIndex*>(index.get());
  ASSERT_NE(ivf, nullptr);
  SearchParams big;
  big.k = 10000;
  big.nprobe = 4;
  big.refine_factor = 100;  // a top-k of 10^6 candidates per query
  big.num_threads = 2;
  ASSERT_TRUE(index->Search(ds.queries.data.data(), 4, big).ok());
  EXPECT_LE(ivf->pooled_scratch_bytes(), size_t{2} * (4 << 20))
      << "a scratch over 4 MiB is freed, not pooled";
  SearchParams small;
  small.k = 10;
  small.nprobe = 4;
  small.num_threads = 1;
  ASSERT_TRUE(index->Search(ds.queries.data.data(), 4, small).ok());
  EXPECT_LE(ivf->pooled_scratch_bytes(), size_t{2} * (4 << 20));
}

TEST(IvfIndexTest, BadRequestsGetClearErrors) {
  const Dataset ds = testing::LoadSiftSmall();
  auto untrained = CreateVectorIndex(*ParseIndexSpec("IVF16,PQ16x8"), ds.base.cols, ds.metric);
  ASSERT_TRUE(untrained.ok());
  SearchParams p;
  EXPECT_EQ((*untrained)->Search(ds.queries.row(0), 1, p).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE((*untrained)->Train(ds.base.data.data(), 5).ok());

  auto index = Build("IVF16,SQ8", ds, 2000);
  p.k = 0;
  EXPECT_EQ(index->Search(ds.queries.row(0), 1, p).status().code(),
            absl::StatusCode::kInvalidArgument);
  p.k = 10;
  p.nprobe = 0;
  EXPECT_FALSE(index->Search(ds.queries.row(0), 1, p).ok());
  p.nprobe = 4;
  std::vector<float> nan_query(ds.base.cols, std::nanf(""));
  EXPECT_EQ(index->Search(nan_query.data(), 1, p).status().code(),
            absl::StatusCode::kInvalidArgument);
  const int64_t id = 1;
  EXPECT_FALSE(index->Add(&id, nan_query.data(), 1).ok());
  EXPECT_EQ(index->size(), 2000u);
  EXPECT_FALSE(CreateVectorIndex(*ParseIndexSpec("PCA256,SQ8"), 128, Metric::kL2).ok());
}

TEST(IvfIndexTest, ReadersSearchWhileAWriterAppends) {
  const Dataset ds = testing::LoadSiftSmall();
  auto index = Build("IVF32,PQ16x4fs,Refine(Flat)", ds, 2000);
  std::atomic<bool> done{false};
  std::atomic<int> errors{0};
  std::thread writer([&] {
    for (size_t i = 2000; i < ds.base.rows; i += 100) {
      std::vector<int64_t> ids(100);
      std::iota(ids.begin(), ids.end(), int64_t(i));
      if (!index->Add(ids.data(), ds.base.row(i), 100).ok()) ++errors;
    }
    done = true;
  });
  SearchParams p;
  p.k = 10;
  p.nprobe = 4;
  p.num_threads = 1;
  size_t searches = 0;
  while (!done || searches == 0) {
    auto r = index->Search(ds.queries.row(searches % ds.queries.rows), 1, p);
    if (!r.ok()) ++errors;
    for (int64_t id : r->ids) {
      if (id < -1 || id >= int64_t(ds.base.rows)) ++errors;
    }
    ++searches;
  }
  writer.join();
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(index->size(), ds.base.rows);
}

}  // namespace
}  // namespace qvdb
