// The refine file through the engine (storage/refine_file.h, docs/storage.md
// "Refine file"): Refine(Flat) re-ranks from it with the answers RocksDB
// gives, it follows upserts and deletes, a clean restart trusts it, and a
// missing, damaged, unclean or stale file never yields a wrong answer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "server/engine/collection_engine.h"
#include "server/engine/engine_test_util.h"

namespace qvdb {
namespace {

namespace fs = std::filesystem;
using engine_testing::ExpectSameResults;
using engine_testing::SeededRows;
using engine_testing::SeededVector;
using engine_testing::TempDir;
using engine_testing::TestOptions;
using engine_testing::U64;

constexpr int kDim = 16;
constexpr size_t kRows = 1000;
constexpr char kSpec[] = "IVF4,PQ4x4fs,Refine(Flat)";

std::unique_ptr<Engine> OpenEngine(const std::string& dir,
                                   bool refine_file = true) {
  EngineOptions o = TestOptions(dir);
  o.refine_file = refine_file;
  auto e = Engine::Open(o);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

// A trained Refine(Flat) collection "c" of kRows seeded rows.
std::unique_ptr<Engine> Populated(const std::string& dir, bool refine_file,
                                  Metric metric = Metric::kL2) {
  auto e = OpenEngine(dir, refine_file);
  if (!e) return nullptr;
  EXPECT_TRUE(e->CreateCollection({"c", kDim, metric, kSpec}).ok());
  EXPECT_TRUE(e->Upsert("c", SeededRows(0, kRows, kDim)).ok());
  EXPECT_TRUE(e->Train("c").ok());
  return e;
}

SearchOptions Refined() {
  SearchOptions o;
  o.k = 10;
  o.nprobe = 2;
  o.refine_factor = 8;
  return o;
}

// 20 queries near rows 0, 50, 100, ...
std::vector<float> Queries() {
  std::vector<float> q;
  for (int i = 0; i < 20; ++i) {
    auto v = SeededVector(uint64_t(i) * 50, kDim);
    for (float& x : v) x += 0.01f;
    q.insert(q.end(), v.begin(), v.end());
  }
  return q;
}

std::vector<std::vector<Hit>> SearchOrDie(const Engine& e,
                                          const std::vector<float>& q) {
  auto r = e.Search("c", q, Refined());
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : std::vector<std::vector<Hit>>{};
}

// The one refine file of the data directory.
std::string RefineFileOf(const std::string& dir) {
  std::string found;
  for (const auto& entry : fs::directory_iterator(fs::path(dir) / "refine")) {
    EXPECT_TRUE(found.empty()) << "more than one refine file";
    found = entry.path().string();
  }
  EXPECT_FALSE(found.empty());
  return found;
}

CollectionStats StatsOrDie(const Engine& e) {
  auto s = e.Stats("c");
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : CollectionStats{};
}

// What RocksDB alone answers (no refine file) for the data in `dir`, after
// the engine there closed.
std::vector<std::vector<Hit>> AnswersFromRocksDb(const std::string& dir) {
  auto e = OpenEngine(dir, /*refine_file=*/false);
  return e ? SearchOrDie(*e, Queries()) : std::vector<std::vector<Hit>>{};
}

TEST(RefineFileEngineTest, ReRanksFromTheFileWithTheAnswersOfRocksDb) {
  for (Metric metric : {Metric::kL2, Metric::kCosine, Metric::kInnerProduct}) {
    SCOPED_TRACE(MetricName(metric));
    TempDir tmp;
    auto with_file = Populated(tmp.Sub("file"), true, metric);
    auto without = Populated(tmp.Sub("rocksdb"), false, metric);
    ASSERT_TRUE(with_file && without);
    ExpectSameResults(SearchOrDie(*with_file, Queries()),
                   SearchOrDie(*without, Queries()));

    const CollectionStats s = StatsOrDie(*with_file);
    EXPECT_TRUE(s.refine_file_attached);
    EXPECT_EQ(s.refine_file_rebuild_reason, "missing");  // created empty
    EXPECT_GT(s.refine_fetched_from_file, 20u * 10);
    EXPECT_EQ(s.refine_fetched_from_storage, 0u);
    EXPECT_EQ(s.refine_bytes_read, s.refine_fetched_from_file * kDim * 4);
    EXPECT_GE(s.refine_file_bytes, kRows * kDim * 4);
    EXPECT_GT(s.disk_bytes_per_vector, 0.0);

    const CollectionStats r = StatsOrDie(*without);
    EXPECT_FALSE(r.refine_file_attached);
    EXPECT_EQ(r.refine_fetched_from_file, 0u);
    EXPECT_GT(r.refine_fetched_from_storage, 20u * 10);
  }
}

// Upserting an existing id keeps its internal id and changes its vector:
// the file must follow, or re-ranking would score the old vector.
TEST(RefineFileEngineTest, FollowsUpsertsAndDeletes) {
  for (Metric metric : {Metric::kL2, Metric::kCosine}) {
    SCOPED_TRACE(MetricName(metric));
    TempDir tmp;
    auto e = Populated(tmp.Sub("data"), true, metric);
    ASSERT_TRUE(e);
    const std::vector<float> moved = SeededVector(999999, kDim);
    std::vector<UpsertRow> row = SeededRows(77, 1, kDim);
    row[0].vector = moved;
    ASSERT_TRUE(e->Upsert("c", row).ok());
    auto hits = e->Search("c", moved, Refined());
    ASSERT_TRUE(hits.ok()) << hits.status();
    ASSERT_FALSE((*hits)[0].empty());
    EXPECT_EQ(U64((*hits)[0][0].id), 77u);
    EXPECT_NEAR((*hits)[0][0].score, metric == Metric::kL2 ? 0.0f : 1.0f,
                1e-4);

    const std::vector<UserId> gone = {uint64_t{77}};
    ASSERT_TRUE(e->Delete("c", gone).ok());
    hits = e->Search("c", moved, Refined());
    ASSERT_TRUE(hits.ok());
    for (const Hit& h : (*hits)[0]) EXPECT_NE(U64(h.id), 77u);
    EXPECT_EQ(StatsOrDie(*e).refine_fetched_from_storage, 0u);
  }
}

TEST(RefineFileEngineTest, ACleanRestartTrustsTheFile) {
  TempDir tmp;
  const std::string dir = tmp.Sub("data");
  std::vector<std::vector<Hit>> before;
  {
    auto e = Populated(dir, true);
    ASSERT_TRUE(e);
    before = SearchOrDie(*e, Queries());
  }
  auto e = OpenEngine(dir);
  ASSERT_TRUE(e);
  const CollectionStats s = StatsOrDie(*e);
  EXPECT_EQ(s.refine_file_rebuild_reason, "");
  ExpectSameResults(SearchOrDie(*e, Queries()), before);
  EXPECT_EQ(StatsOrDie(*e).refine_fetched_from_storage, 0u);
}

// Issue 12: with a RAM tier (Refine(SQ8)) in front, the disk tier reads only
// k * refine_factor candidates per query; the RAM tier's codes are stored
// with the row's codes, so a restart answers the same.
TEST(RefineFileEngineTest, ARamTierLimitsDiskReadsAndSurvivesARestart) {
  TempDir tmp;
  const std::string dir = tmp.Sub("data");
  SearchOptions o = Refined();
  o.ram_refine_factor = 16;
  o.refine_factor = 2;
  std::vector<std::vector<Hit>> before;
  {
    auto e = OpenEngine(dir);
    ASSERT_TRUE(e);
    ASSERT_TRUE(e->CreateCollection(
                     {"c", kDim, Metric::kL2,
                      "IVF4,PQ4x4fs,Refine(SQ8),Refine(Flat)"})
                    .ok());
    ASSERT_TRUE(e->Upsert("c", SeededRows(0, kRows, kDim)).ok());
    ASSERT_TRUE(e->Train("c").ok());
    SearchStats stats;
    o.stats = &stats;
    auto r = e->Search("c", Queries(), o);
    o.stats = nullptr;
    ASSERT_TRUE(r.ok()) << r.status();
    before = *r;
    // Per call: the RAM tier scored k * 16 candidates a query, the disk
    // tier read k * 2 of them.
    EXPECT_EQ(stats.ram_refine_scored, 20u * o.k * o.ram_refine_factor);
    EXPECT_EQ(stats.refine_scored, 20u * o.k * o.refine_factor);
    EXPECT_EQ(stats.disk_tier_bytes, stats.refine_scored * kDim * 4);
    const CollectionStats s = StatsOrDie(*e);
    EXPECT_EQ(s.ram_refine_code_size, size_t(kDim));
    EXPECT_EQ(s.refine_code_size, size_t(kDim) * 4);
    EXPECT_TRUE(s.refine_on_disk);
    EXPECT_EQ(s.refine_fetched_from_file + s.refine_fetched_from_storage,
              20u * o.k * o.refine_factor);
    EXPECT_EQ(s.ram_refine_scored, stats.ram_refine_scored);
    EXPECT_EQ(s.refine_scored, stats.refine_scored);
    // Each query finds the row it was made from, at the top.
    for (int q = 0; q < 20; ++q) {
      ASSERT_FALSE(before[q].empty());
      EXPECT_EQ(U64(before[q][0].id), uint64_t(q) * 50);
    }
  }
  auto e = OpenEngine(dir);
  ASSERT_TRUE(e);
  auto after = e->Search("c", Queries(), o);
  ASSERT_TRUE(after.ok()) << after.status();
  ExpectSameResults(*after, before);
}

// Each way a file can be wrong, made while the server is down: the next
// open rebuilds it (or a damaged record falls back to RocksDB), and the
// answers are RocksDB's.
TEST(RefineFileEngineTest, AMissingDamagedUncleanOrStaleFileNeverAnswersWrong) {
  struct Damage {
    const char* name;
    const char* expect_reason;  // substring; "" when the file is trusted
    void (*apply)(const std::string& file, const std::string& stale_copy);
  };
  const Damage damages[] = {
      {"missing", "missing",
       [](const std::string& f, const std::string&) { fs::remove(f); }},
      {"truncated", "truncated",
       [](const std::string& f, const std::string&) {
         fs::resize_file(f, fs::file_size(f) - 100);
       }},
      {"header garbage", "damaged header",
       [](const std::string& f, const std::string&) {
         std::fstream io(f, std::ios::in | std::ios::out | std::ios::binary);
         io.seekp(0);
         io.write("garbage!", 8);
       }},
      {"record bits flipped", "",  // header fine: the record's CRC catches it
       [](const std::string& f, const std::string&) {
         std::fstream io(f, std::ios::in | std::ios::out | std::ios::binary);
         for (std::streamoff at = 4096 + 8; at < 4096 + 72 * 1000; at += 72) {
           io.seekp(at);
           io.write("\x55\x55\x55\x55", 4);
         }
       }},
      {"stale copy put back", "stale",
       [](const std::string& f, const std::string& stale) {
         fs::copy_file(stale, f, fs::copy_options::overwrite_existing);
       }},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.name);
    TempDir tmp;
    const std::string dir = tmp.Sub("data");
    const std::string stale = tmp.Sub("stale.qvrf");
    const std::vector<float> moved = SeededVector(999999, kDim);
    {
      auto e = Populated(dir, true);
      ASSERT_TRUE(e);
    }
    fs::copy_file(RefineFileOf(dir), stale);  // clean, before the change
    {
      // Row 0 moves far away: a stale file would still re-rank its old
      // vector, which query 0 sits next to.
      auto e = OpenEngine(dir);
      ASSERT_TRUE(e);
      std::vector<UpsertRow> row = SeededRows(0, 1, kDim);
      row[0].vector = moved;
      ASSERT_TRUE(e->Upsert("c", row).ok());
    }
    const std::string file = RefineFileOf(dir);
    const auto truth = AnswersFromRocksDb(dir);
    d.apply(file, stale);
    auto e = OpenEngine(dir);
    ASSERT_TRUE(e);
    const CollectionStats s = StatsOrDie(*e);
    if (*d.expect_reason == '\0') {
      EXPECT_EQ(s.refine_file_rebuild_reason, "");
    } else {
      EXPECT_NE(s.refine_file_rebuild_reason.find(d.expect_reason),
                std::string::npos)
          << s.refine_file_rebuild_reason;
    }
    const auto got = SearchOrDie(*e, Queries());
    ExpectSameResults(got, truth);
    ASSERT_FALSE(got.empty());
    for (const Hit& h : got[0]) {
      if (U64(h.id) == 0) {
        // Scored against its new vector, far from query 0.
        EXPECT_LT(h.score, truth[0].back().score + 1e-6f);
      }
    }
  }
}

// Issue 12: a refine file that must be rebuilt (after a crash) is rebuilt in
// the background: the collection answers at once from RocksDB, takes writes
// meanwhile, and once the file is ready re-ranks from it with RocksDB's
// answers, the write included.
TEST(RefineFileEngineTest, ABackgroundRebuildAnswersAtOnceAndKeepsWrites) {
  TempDir tmp;
  const std::string dir = tmp.Sub("data");
  {
    auto e = Populated(dir, true);
    ASSERT_TRUE(e);
  }
  {
    std::fstream io(RefineFileOf(dir),
                    std::ios::in | std::ios::out | std::ios::binary);
    io.write("garbage!", 8);
  }
  std::vector<std::vector<Hit>> during, after;
  {
    EngineOptions o = TestOptions(dir);
    o.refine_sync_rebuild_max_rows = 0;
    auto e = Engine::Open(o);
    ASSERT_TRUE(e.ok()) << e.status();
    std::vector<UpsertRow> row = SeededRows(0, 1, kDim);
    row[0].vector = SeededVector(999999, kDim);
    ASSERT_TRUE((*e)->Upsert("c", row).ok());
    during = SearchOrDie(**e, Queries());
    ASSERT_TRUE(engine_testing::WaitForRefineFile(**e, "c"));
    const CollectionStats rebuilt = StatsOrDie(**e);
    EXPECT_FALSE(rebuilt.refine_file_rebuilding);
    EXPECT_NE(rebuilt.refine_file_rebuild_reason.find("damaged header"),
              std::string::npos);
    after = SearchOrDie(**e, Queries());
    const CollectionStats s = StatsOrDie(**e);
    EXPECT_EQ(s.refine_fetched_from_storage,
              rebuilt.refine_fetched_from_storage)
        << "the rebuilt file lacks rows";
  }
  const auto truth = AnswersFromRocksDb(dir);
  ExpectSameResults(during, truth);
  ExpectSameResults(after, truth);
}

TEST(RefineFileEngineTest, DropDeletesTheFileAndOpenDeletesOrphans) {
  TempDir tmp;
  const std::string dir = tmp.Sub("data");
  std::string file;
  {
    auto e = Populated(dir, true);
    ASSERT_TRUE(e);
    file = RefineFileOf(dir);
    ASSERT_TRUE(e->DropCollection("c").ok());
    EXPECT_FALSE(fs::exists(file));
  }
  const std::string orphan = (fs::path(dir) / "refine" / "4242.qvrf").string();
  std::ofstream(orphan) << "left by a drop that crashed";
  auto e = OpenEngine(dir);
  ASSERT_TRUE(e);
  EXPECT_FALSE(fs::exists(orphan));
}

}  // namespace
}  // namespace qvdb
