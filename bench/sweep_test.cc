// Reruns a small sweep in-process (siftsmall, or its generated stand-in):
// the JSON has every figure, the figures are sane, and recall matches an
// independent computation from exact neighbours and the index's own results.
#include "bench/sweep.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "bench/lancedb_subject.h"
#include "bench/sweep_data.h"
#include "bench/sweep_report.h"
#include "index/search/vector_file.h"
#include "index/vector_index.h"
#include "tests/test_data.h"

namespace qvdb::bench {
namespace {

constexpr const char* kPqSpec = "IVF32,PQ16x4fs,Refine(Flat)";
constexpr const char* kSq8Spec = "IVF32,SQ8";

SweepOptions SmallSweep() {
  SweepOptions o;
  o.specs = {kPqSpec, kSq8Spec};
  o.knobs.nprobes = {2, 8};
  o.knobs.refine_factors = {4};
  o.threads = {1, 2};
  o.batches = {1, 25};
  o.baselines = {"faiss-ivfflat"};
  o.k = 10;
  o.train_sample = 0;  // all rows: the test trains its own copy alike
  o.min_seconds = 0.02;
  o.progress = false;
  o.record_ids = true;
  return o;
}

// Exact top-k by a plain scalar loop, independent of ground_truth.h.
std::vector<std::vector<int64_t>> BruteForceL2(const testing::Dataset& ds,
                                               int k) {
  std::vector<std::vector<int64_t>> out(ds.queries.rows);
  std::vector<std::pair<float, int64_t>> scored(ds.base.rows);
  for (size_t q = 0; q < ds.queries.rows; ++q) {
    for (size_t i = 0; i < ds.base.rows; ++i) {
      float d = 0;
      for (int j = 0; j < ds.base.cols; ++j) {
        const float diff = ds.queries.row(q)[j] - ds.base.row(i)[j];
        d += diff * diff;
      }
      scored[i] = {d, int64_t(i)};
    }
    std::partial_sort(scored.begin(), scored.begin() + k, scored.end());
    for (int j = 0; j < k; ++j) out[q].push_back(scored[j].second);
  }
  return out;
}

double Recall(const std::vector<int64_t>& ids, int stride,
              const std::vector<std::vector<int64_t>>& truth, int k) {
  double hits = 0;
  for (size_t q = 0; q < truth.size(); ++q) {
    std::set<int64_t> want(truth[q].begin(), truth[q].begin() + k);
    for (int j = 0; j < k; ++j) hits += want.count(ids[q * stride + j]);
  }
  return hits / double(truth.size() * k);
}

class SweepTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ds_ = new testing::Dataset(testing::LoadSiftSmall());
    auto result = RunSweep(SmallSweep(), *ds_);
    ASSERT_TRUE(result.ok()) << std::string(result.status().message());
    result_ = new SweepResult(*std::move(result));
    // Round trip through text: what a user of --json reads.
    json_ =
        new nlohmann::json(nlohmann::json::parse(SweepToJson(*result_).dump()));
  }
  static void TearDownTestSuite() {
    delete json_;
    delete result_;
    delete ds_;
  }
  static const nlohmann::json* FindPoint(const std::string& label, int nprobe,
                                         int threads, int batch) {
    for (const auto& p : (*json_)["points"]) {
      if (p["label"] == label && p["nprobe"] == nprobe &&
          p["threads"] == threads && p["batch"] == batch) {
        return &p;
      }
    }
    return nullptr;
  }

  static testing::Dataset* ds_;
  static SweepResult* result_;
  static nlohmann::json* json_;
};
testing::Dataset* SweepTest::ds_ = nullptr;
SweepResult* SweepTest::result_ = nullptr;
nlohmann::json* SweepTest::json_ = nullptr;

TEST_F(SweepTest, EveryPointOfTheGridIsThere) {
  ASSERT_NE(json_, nullptr);
  const auto& points = (*json_)["points"];
  // 2 nprobes x 2 threads x 2 batches for each spec and the baseline (the
  // SQ8 spec and IVFFlat have no refine factor).
  EXPECT_EQ(points.size(), 3u * 2 * 2 * 2);
  const auto& systems = (*json_)["systems"];
  ASSERT_EQ(systems.size(), 3u);
  EXPECT_EQ(systems[0]["label"], kPqSpec);
  EXPECT_EQ(systems[1]["label"], kSq8Spec);
  EXPECT_EQ(systems[2]["system"], "faiss-ivfflat");
  EXPECT_NE(systems[2]["label"].get<std::string>().find("nlist=32"),
            std::string::npos)
      << "the baseline takes nlist from the first IVF spec";
  EXPECT_EQ((*json_)["dataset"]["n"], ds_->base.rows);
  EXPECT_EQ((*json_)["dataset"]["queries"], ds_->queries.rows);
  EXPECT_EQ((*json_)["k"], 10);
  EXPECT_GT((*json_)["machine"]["cores"].get<int>(), 0);
}

TEST_F(SweepTest, EveryFigureIsPresentAndSane) {
  ASSERT_NE(json_, nullptr);
  const size_t nq = ds_->queries.rows;
  for (const auto& p : (*json_)["points"]) {
    SCOPED_TRACE(fmt::format("{} nprobe {} threads {} batch {}",
                             p["label"].get<std::string>(), p["nprobe"].dump(),
                             p["threads"].dump(), p["batch"].dump()));
    for (const char* key : {"system",
                            "label",
                            "nprobe",
                            "refine_factor",
                            "ef",
                            "threads",
                            "batch",
                            "recall_at_1",
                            "recall_at_10",
                            "recall_at_100",
                            "qps",
                            "latency_p50_us",
                            "latency_p95_us",
                            "latency_p99_us",
                            "calls",
                            "train_seconds",
                            "add_seconds",
                            "ram_bytes_per_vector",
                            "disk_bytes_per_vector",
                            "peak_rss_bytes"}) {
      EXPECT_TRUE(p.contains(key)) << key;
    }
    for (const char* key : {"recall_at_1", "recall_at_10"}) {
      EXPECT_GE(p[key].get<double>(), 0.0) << key;
      EXPECT_LE(p[key].get<double>(), 1.0) << key;
    }
    EXPECT_TRUE(p["recall_at_100"].is_null()) << "k = 10 < 100";
    EXPECT_TRUE(p["ef"].is_null()) << "no HNSW here";
    EXPECT_GT(p["recall_at_10"].get<double>(), 0.3);
    EXPECT_GT(p["qps"].get<double>(), 0.0);
    EXPECT_TRUE(std::isfinite(p["qps"].get<double>()));
    const double p50 = p["latency_p50_us"], p95 = p["latency_p95_us"],
                 p99 = p["latency_p99_us"];
    EXPECT_GT(p50, 0.0);
    EXPECT_LE(p50, p95);
    EXPECT_LE(p95, p99);
    const int batch = p["batch"];
    EXPECT_GE(p["calls"].get<size_t>(), (nq + batch - 1) / batch)
        << "every query is timed at least once";
    EXPECT_GE(p["train_seconds"].get<double>(), 0.0);
    EXPECT_GT(p["add_seconds"].get<double>(), 0.0);
    EXPECT_GT(p["peak_rss_bytes"].get<double>(), 1e6);
    const double ram = p["ram_bytes_per_vector"];
    const double disk = p["disk_bytes_per_vector"];
    if (p["label"] == kPqSpec) {
      // 8 code bytes (16 x 4 bits) + ids, + 512 bytes of Flat refine
      // vectors in RAM.
      EXPECT_GT(ram, 8 + 512);
      EXPECT_LT(ram, 8 + 512 + 64);
      EXPECT_EQ(disk, 8 + 512 + 8);
      EXPECT_EQ(p["refine_factor"], 4);
    } else if (p["label"] == kSq8Spec) {
      EXPECT_GT(ram, 128);
      EXPECT_LT(ram, 128 + 64);
      EXPECT_EQ(disk, 128 + 8);
      EXPECT_TRUE(p["refine_factor"].is_null());
    } else {
      // IVFFlat: 512 bytes of float32 + 8-byte id, and the centroids.
      EXPECT_GE(ram, 512 + 8);
      EXPECT_LT(ram, 512 + 8 + 32);
      EXPECT_GE(disk, 512 + 8);
    }
  }
  uint64_t rss = 0;
  for (const auto& s : (*json_)["systems"]) {
    EXPECT_FALSE(s["ram_how"].get<std::string>().empty());
    EXPECT_FALSE(s["disk_how"].get<std::string>().empty());
    EXPECT_GE(s["peak_rss_bytes"].get<uint64_t>(), rss) << "high-water mark";
    rss = s["peak_rss_bytes"];
  }
}

TEST_F(SweepTest, MoreProbesNeverLowerRecall) {
  ASSERT_NE(json_, nullptr);
  for (const char* label : {kPqSpec, kSq8Spec}) {
    const auto* low = FindPoint(label, 2, 1, 25);
    const auto* high = FindPoint(label, 8, 1, 25);
    ASSERT_NE(low, nullptr);
    ASSERT_NE(high, nullptr);
    EXPECT_GE((*high)["recall_at_10"].get<double>() + 1e-9,
              (*low)["recall_at_10"].get<double>())
        << label;
  }
  const auto* pq = FindPoint(kPqSpec, 8, 1, 25);
  ASSERT_NE(pq, nullptr);
  EXPECT_GT((*pq)["recall_at_10"].get<double>(), 0.8);
}

TEST_F(SweepTest, BatchAndThreadsDoNotChangeResults) {
  ASSERT_NE(json_, nullptr);
  const auto* a = FindPoint(kSq8Spec, 8, 1, 1);
  const auto* b = FindPoint(kSq8Spec, 8, 2, 25);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ((*a)["ids"], (*b)["ids"]);
  EXPECT_EQ((*a)["recall_at_10"], (*b)["recall_at_10"]);
}

TEST_F(SweepTest, RecallMatchesAnIndependentComputation) {
  ASSERT_NE(json_, nullptr);
  const auto* p = FindPoint(kPqSpec, 8, 1, 1);
  ASSERT_NE(p, nullptr);
  const std::vector<int64_t> ids = (*p)["ids"];
  ASSERT_EQ(ids.size(), ds_->queries.rows * 10);
  const auto truth = BruteForceL2(*ds_, 10);
  // Ties in SIFT's integer distances may order neighbours differently.
  EXPECT_NEAR(Recall(ids, 10, truth, 10), (*p)["recall_at_10"].get<double>(),
              0.01);
  EXPECT_NEAR(Recall(ids, 10, truth, 1), (*p)["recall_at_1"].get<double>(),
              0.02);

  // The same index built here, searched with the point's parameters.
  auto spec = ParseIndexSpec(kPqSpec);
  ASSERT_TRUE(spec.ok());
  auto index = CreateVectorIndex(*spec, ds_->base.cols, ds_->metric);
  ASSERT_TRUE(index.ok());
  ASSERT_TRUE((*index)->Train(ds_->base.data.data(), ds_->base.rows).ok());
  std::vector<int64_t> rows(ds_->base.rows);
  std::iota(rows.begin(), rows.end(), 0);
  ASSERT_TRUE(
      (*index)->Add(rows.data(), ds_->base.data.data(), ds_->base.rows).ok());
  SearchParams params;
  params.k = 10;
  params.nprobe = 8;
  params.refine_factor = 4;
  params.num_threads = 1;
  auto own =
      (*index)->Search(ds_->queries.data.data(), ds_->queries.rows, params);
  ASSERT_TRUE(own.ok());
  EXPECT_NEAR(Recall(own->ids, 10, truth, 10),
              (*p)["recall_at_10"].get<double>(), 0.02);
}

TEST_F(SweepTest, CsvHasAHeaderAndOneRowPerPoint) {
  ASSERT_NE(result_, nullptr);
  const std::string csv = SweepToCsv(*result_);
  const size_t lines = std::count(csv.begin(), csv.end(), '\n');
  EXPECT_EQ(lines, result_->points.size() + 1);
  EXPECT_EQ(csv.rfind("dataset,system,label,nprobe,refine_factor,ef,", 0), 0u);
}

TEST(SweepOptionsTest, BadOptionsSayWhatToDo) {
  const testing::Dataset ds = testing::Generate(500, 10, 16, Metric::kL2, 7);
  SweepOptions o = SmallSweep();
  o.specs = {"IVF8,SQ8"};
  o.baselines = {"faiss-ivfpq-typo"};
  auto r = RunSweep(o, ds);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("unknown baseline"),
            std::string::npos);
  o.baselines = {"none"};
  o.k = 5;
  r = RunSweep(o, ds);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("at least 10"),
            std::string::npos);
  o.k = 10;
  o.specs = {"IVF8,PQ"};
  r = RunSweep(o, ds);
  EXPECT_FALSE(r.ok());
}

TEST(SweepDataTest, FilesWithoutGroundTruthGetExactNeighbours) {
  const testing::Dataset ds = testing::Generate(300, 7, 8, Metric::kL2, 3);
  const auto dir = std::filesystem::temp_directory_path() /
                   ("qvdb_sweep_test_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string base = (dir / "base.fvecs").string();
  const std::string queries = (dir / "queries.fvecs").string();
  ASSERT_TRUE(WriteFvecs(base, ds.base).ok());
  ASSERT_TRUE(WriteFvecs(queries, ds.queries).ok());
  SweepDataOptions o;
  o.base_path = base;
  o.queries_path = queries;
  o.truth_k = 10;
  auto loaded = LoadSweepData(o);
  ASSERT_TRUE(loaded.ok()) << std::string(loaded.status().message());
  EXPECT_EQ(loaded->base.rows, 300u);
  EXPECT_EQ(loaded->queries.rows, 7u);
  ASSERT_EQ(loaded->truth.rows, 7u);
  ASSERT_EQ(loaded->truth.cols, 10);
  for (size_t q = 0; q < 7; ++q) {
    EXPECT_EQ(loaded->truth.row(q)[0], ds.truth.row(q)[0]) << q;
  }
  o.dataset = "siftsmall";  // two sources
  EXPECT_FALSE(LoadSweepData(o).ok());
  std::filesystem::remove_all(dir);
}

template <typename T>
void WriteHdf5(hid_t file, const char* name, hid_t type, size_t rows,
               size_t cols, const T* values) {
  const hsize_t dims[2] = {rows, cols};
  hid_t space = H5Screate_simple(2, dims, nullptr);
  hid_t ds = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT,
                        H5P_DEFAULT);
  ASSERT_GE(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values), 0);
  H5Dclose(ds);
  H5Sclose(space);
}

// An ann-benchmarks file as h5py writes it: train, test, neighbors, and a
// variable-length string attribute "distance".
TEST(SweepDataTest, AnnBenchmarksHdf5GivesMetricAndNeighbours) {
  const testing::Dataset ds = testing::Generate(200, 5, 8, Metric::kL2, 9);
  const std::string path =
      (std::filesystem::temp_directory_path() /
       ("qvdb_sweep_test_" + std::to_string(getpid()) + ".hdf5"))
          .string();
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  WriteHdf5(file, "train", H5T_NATIVE_FLOAT, ds.base.rows, ds.base.cols,
            ds.base.data.data());
  WriteHdf5(file, "test", H5T_NATIVE_FLOAT, ds.queries.rows, ds.queries.cols,
            ds.queries.data.data());
  // Deliberately not the true neighbours: the file's own must be used.
  std::vector<int32_t> neighbors(ds.queries.rows * 10);
  std::iota(neighbors.begin(), neighbors.end(), 0);
  WriteHdf5(file, "neighbors", H5T_NATIVE_INT, ds.queries.rows, 10,
            neighbors.data());
  hid_t str = H5Tcopy(H5T_C_S1);
  H5Tset_size(str, H5T_VARIABLE);
  hid_t scalar = H5Screate(H5S_SCALAR);
  hid_t attr =
      H5Acreate2(file, "distance", str, scalar, H5P_DEFAULT, H5P_DEFAULT);
  const char* angular = "angular";
  ASSERT_GE(H5Awrite(attr, str, &angular), 0);
  H5Aclose(attr);
  H5Sclose(scalar);
  H5Tclose(str);
  H5Fclose(file);

  SweepDataOptions o;
  o.hdf5_path = path;
  o.truth_k = 10;
  auto loaded = LoadSweepData(o);
  std::filesystem::remove(path);
  ASSERT_TRUE(loaded.ok()) << std::string(loaded.status().message());
  EXPECT_EQ(loaded->metric, Metric::kCosine);
  EXPECT_EQ(loaded->base.rows, 200u);
  EXPECT_EQ(loaded->queries.rows, 5u);
  ASSERT_EQ(loaded->truth.cols, 10);
  EXPECT_EQ(loaded->truth.data,
            std::vector<int32_t>(neighbors.begin(), neighbors.end()));
}

TEST(LanceDbOptionTest, ParsesKindAndParameter) {
  auto rq = ParseLanceDbIndex("IVF_RQ:2");
  ASSERT_TRUE(rq.ok()) << std::string(rq.status().message());
  EXPECT_EQ(rq->kind, "IVF_RQ");
  EXPECT_EQ(rq->param, 2);
  auto pq = ParseLanceDbIndex("ivf_pq:16");
  ASSERT_TRUE(pq.ok()) << std::string(pq.status().message());
  EXPECT_EQ(pq->kind, "IVF_PQ");
  EXPECT_EQ(pq->param, 16);
  for (const char* bad : {"IVF_RQ", "IVF_RQ:", "IVF_RQ:0", "IVF_RQ:9",
                          "IVF_RQ:1x", "IVF_PQ:0", "HNSW:16", ""}) {
    EXPECT_FALSE(ParseLanceDbIndex(bad).ok()) << bad;
  }
  EXPECT_NE(std::string(ParseLanceDbIndex("IVF_RQ").status().message())
                .find("bits per dimension"),
            std::string::npos);
}

TEST(LanceDbOptionTest, CodeBytes) {
  // 1 bit: d/8 + add, scale, error; b > 1: b*d/8 + 5 floats; PQ: m.
  EXPECT_EQ(LanceDbCodeBytes({"IVF_RQ", 1}, 128), 16 + 12);
  EXPECT_EQ(LanceDbCodeBytes({"IVF_RQ", 2}, 128), 32 + 20);
  EXPECT_EQ(LanceDbCodeBytes({"IVF_RQ", 4}, 384), 192 + 20);
  EXPECT_EQ(LanceDbCodeBytes({"IVF_PQ", 48}, 384), 48);
}

std::string DriverOutput(size_t ids) {
  nlohmann::json j = {{"version", "0.31.0"},
                      {"n", 100},
                      {"dim", 8},
                      {"load_s", 0.5},
                      {"index_s", 1.5},
                      {"dataset_bytes", 4000},
                      {"index_bytes", 3000},
                      {"overhead_us", {{"p50", 900.0}, {"p95", 2000.0}}}};
  std::vector<int64_t> v(ids);
  std::iota(v.begin(), v.end(), 0);
  v.back() = -1;
  j["points"] = {{{"nprobes", 4},
                  {"callers", 2},
                  {"qps", 500.0},
                  {"calls", 120},
                  {"p50_us", 1800.0},
                  {"p95_us", 3000.0},
                  {"p99_us", 4000.0},
                  {"ids", v}}};
  return j.dump();
}

TEST(LanceDbOutputTest, ReadsTheDriversJson) {
  auto run = ParseLanceDbOutput(DriverOutput(3 * 10), 3, 10);
  ASSERT_TRUE(run.ok()) << std::string(run.status().message());
  EXPECT_EQ(run->version, "0.31.0");
  EXPECT_EQ(run->n, 100u);
  EXPECT_DOUBLE_EQ(run->index_seconds, 1.5);
  EXPECT_EQ(run->index_bytes, 3000u);
  EXPECT_DOUBLE_EQ(run->overhead_p50_us, 900.0);
  ASSERT_EQ(run->points.size(), 1u);
  const LanceDbRun::Point& p = run->points[0];
  EXPECT_EQ(p.nprobes, 4);
  EXPECT_EQ(p.callers, 2);
  EXPECT_EQ(p.calls, 120u);
  EXPECT_DOUBLE_EQ(p.p99_us, 4000.0);
  ASSERT_EQ(p.ids.size(), 30u);
  EXPECT_EQ(p.ids[1], 1);
  EXPECT_EQ(p.ids.back(), -1);
}

TEST(LanceDbOutputTest, RejectsBadOutput) {
  auto short_ids = ParseLanceDbOutput(DriverOutput(29), 3, 10);
  ASSERT_FALSE(short_ids.ok());
  EXPECT_NE(std::string(short_ids.status().message()).find("29 ids"),
            std::string::npos);
  EXPECT_FALSE(ParseLanceDbOutput("not json", 3, 10).ok());
  auto j = nlohmann::json::parse(DriverOutput(30));
  j.erase("index_s");
  auto missing = ParseLanceDbOutput(j.dump(), 3, 10);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(std::string(missing.status().message()).find("index_s"),
            std::string::npos);
}

SweepOptions LanceDbSweep() {
  SweepOptions o;
  o.data.dataset = "synthetic:2000:16:20";
  o.specs = {"IVF4,SQ8"};
  o.knobs.nprobes = {1, 4};
  o.threads = {1};
  o.batches = {1, 10};
  o.baselines = {"none"};
  o.lancedb = {"IVF_RQ:4", "IVF_PQ:4"};
  o.min_seconds = 0.01;
  o.progress = false;
  return o;
}

TEST(LanceDbSweepTest, SkippedWithoutNode) {
  SweepOptions o = LanceDbSweep();
  o.lancedb_options.node = "/nonexistent/node";
  auto result = RunSweep(o);
  ASSERT_TRUE(result.ok()) << std::string(result.status().message());
  ASSERT_EQ(result->systems.size(), 1u);
  EXPECT_EQ(result->systems[0].system, "qvdb");
  ASSERT_EQ(result->skipped.size(), 1u);
  EXPECT_NE(result->skipped[0].find("node"), std::string::npos);
  EXPECT_EQ(SweepToJson(*result)["skipped"].size(), 1u);
}

TEST(LanceDbSweepTest, SkippedWithoutThePackage) {
  SweepOptions o = LanceDbSweep();
  o.lancedb_options.package_dir = "/nonexistent/lancedb";
  auto result = RunSweep(o);
  ASSERT_TRUE(result.ok()) << std::string(result.status().message());
  ASSERT_EQ(result->skipped.size(), 1u);
  EXPECT_NE(result->skipped[0].find("npm i -E @lancedb/lancedb@0.31.0"),
            std::string::npos);
}

TEST(LanceDbSweepTest, BadOptionIsAnErrorEvenWithoutNode) {
  SweepOptions o = LanceDbSweep();
  o.lancedb = {"IVF_XX:1"};
  o.lancedb_options.node = "/nonexistent/node";
  EXPECT_FALSE(RunSweep(o).ok());
}

// Runs LanceDB for real where node and build/lancedb are installed.
TEST(LanceDbSweepTest, MeasuresLanceDbWhenInstalled) {
  SweepOptions o = LanceDbSweep();
  if (absl::Status s = LanceDbAvailable(o.lancedb_options); !s.ok()) {
    GTEST_SKIP() << std::string(s.message());
  }
  o.record_ids = true;
  auto result = RunSweep(o);
  ASSERT_TRUE(result.ok()) << std::string(result.status().message());
  ASSERT_EQ(result->systems.size(), 3u);
  EXPECT_TRUE(result->skipped.empty());
  for (size_t s = 1; s < 3; ++s) {
    const SweepSystem& sys = result->systems[s];
    EXPECT_NE(sys.note.find("Node/Arrow overhead"), std::string::npos);
    EXPECT_NE(sys.label.find("4 partitions"), std::string::npos)
        << "partitions follow the first IVF spec's nlist";
    EXPECT_GT(sys.footprint.disk_bytes_per_vector, 16 * 4)
        << "the dataset keeps the float32 vectors";
    EXPECT_GT(sys.build.train_seconds, 0);
  }
  EXPECT_EQ(result->systems[1].footprint.ram_bytes_per_vector, 8 + 20);
  EXPECT_EQ(result->systems[2].footprint.ram_bytes_per_vector, 4);
  int lancedb_points = 0;
  for (const SweepPoint& p : result->points) {
    if (p.system_index == 0) continue;
    ++lancedb_points;
    EXPECT_EQ(p.batch, 1) << "LanceDB's Node API takes one query a call";
    EXPECT_GT(p.qps, 0);
    EXPECT_EQ(p.ids.size(), 20u * 10);
    if (p.knobs.nprobe == 4) {  // every partition: a scan of the codes
      EXPECT_GT(p.recall_at_10, 0.5) << result->systems[p.system_index].label;
    }
  }
  EXPECT_EQ(lancedb_points, 2 * 2);
}

}  // namespace
}  // namespace qvdb::bench
