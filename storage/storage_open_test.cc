// Opening data directories (missing, foreign, damaged, newer format, in
// use) and snapshots (taken while writing, listed, restored, reopened).
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "storage/keys.h"
#include "storage/storage.h"
#include "storage/test_util.h"

namespace qvdb {
namespace {

namespace fs = std::filesystem;
using storage_testing::Config;
using storage_testing::CreateOptions;
using storage_testing::TempDir;
using storage_testing::VectorBytes;

bool Contains(const absl::Status& s, std::string_view text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

void WriteFile(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A data directory with one collection "c" holding rows 0..n-1.
void MakeDataDir(const std::string& dir, uint64_t n = 10) {
  auto st = Storage::Open(dir, CreateOptions());
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_OK((*st)->CreateCollection(Config("c")));
  std::vector<Mutation> batch;
  for (uint64_t i = 0; i < n; ++i) {
    batch.push_back(Mutation::Upsert(i, VectorBytes(i), "p"));
  }
  ASSERT_OK((*st)->Write("c", batch));
}

TEST(StorageOpenTest, MissingDirectoryWithoutCreateIsNotFound) {
  TempDir tmp;
  auto st = Storage::Open(tmp.Sub("missing"), StorageOptions{});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Contains(st.status(), "create_if_missing")) << st.status();
  EXPECT_FALSE(fs::exists(tmp.Sub("missing")));
  // An existing but empty directory without create: also NotFound.
  EXPECT_EQ(Storage::Open(tmp.path(), StorageOptions{}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(StorageOpenTest, CreatesNestedDirectoriesAndReopens) {
  TempDir tmp;
  const std::string dir = tmp.Sub("a/b/data");
  MakeDataDir(dir);
  EXPECT_TRUE(fs::exists(fs::path(dir) / "db" / "CURRENT"));
  EXPECT_FALSE(fs::exists(fs::path(dir) / "db.creating"));
  auto st = Storage::Open(dir, StorageOptions{});
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_OK_AND_ASSIGN(auto counts, (*st)->Counts("c"));
  EXPECT_EQ(counts.live_rows, 10u);
}

TEST(StorageOpenTest, NeverTakesOverAForeignDirectory) {
  TempDir tmp;
  WriteFile(fs::path(tmp.path()) / "notes.txt", "mine");
  auto st = Storage::Open(tmp.path(), CreateOptions());
  EXPECT_EQ(st.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(st.status(), "not a qvdb data directory"))
      << st.status();
  EXPECT_FALSE(fs::exists(fs::path(tmp.path()) / "db"));
  // A file where the directory should be.
  EXPECT_EQ(Storage::Open((fs::path(tmp.path()) / "notes.txt").string(),
                          CreateOptions())
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(StorageOpenTest, GarbageOrTruncatedCurrentFileIsDataLossNotACrash) {
  TempDir tmp;
  MakeDataDir(tmp.path());
  const fs::path current = fs::path(tmp.path()) / "db" / "CURRENT";
  for (std::string_view bytes :
       {std::string_view("\x13garbage\xff\n"), std::string_view("MANIFEST-0"),
        std::string_view("")}) {
    WriteFile(current, bytes);
    auto st = Storage::Open(tmp.path(), StorageOptions{});
    EXPECT_EQ(st.status().code(), absl::StatusCode::kDataLoss)
        << "CURRENT = \"" << bytes << "\": " << st.status();
    EXPECT_TRUE(Contains(st.status(), "snapshot")) << st.status();
    // create_if_missing does not paper over damage either.
    EXPECT_EQ(Storage::Open(tmp.path(), CreateOptions()).status().code(),
              absl::StatusCode::kDataLoss);
  }
}

TEST(StorageOpenTest, MissingCurrentFileIsDataLoss) {
  TempDir tmp;
  MakeDataDir(tmp.path());
  fs::remove(fs::path(tmp.path()) / "db" / "CURRENT");
  EXPECT_EQ(Storage::Open(tmp.path(), CreateOptions()).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(StorageOpenTest, TruncatedManifestIsAnErrorNotACrash) {
  TempDir tmp;
  MakeDataDir(tmp.path());
  int truncated = 0;
  for (const auto& e : fs::directory_iterator(fs::path(tmp.path()) / "db")) {
    if (e.path().filename().string().starts_with("MANIFEST-")) {
      fs::resize_file(e.path(), 10);
      ++truncated;
    }
  }
  ASSERT_GT(truncated, 0);
  auto st = Storage::Open(tmp.path(), StorageOptions{});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kDataLoss) << st.status();
}

TEST(StorageOpenTest, ARocksDbThatIsNotQvdbIsRefused) {
  TempDir tmp;
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, tmp.Sub("db"), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "k", "v").ok());
  }
  auto st = Storage::Open(tmp.path(), CreateOptions());
  EXPECT_EQ(st.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(st.status(), "not a qvdb")) << st.status();
}

TEST(StorageOpenTest, NewerFormatVersionIsFailedPrecondition) {
  TempDir tmp;
  MakeDataDir(tmp.path());
  const std::string db_path = tmp.Sub("db");
  {
    // Rewrite the format key as a future qvdb would.
    std::vector<std::string> names;
    ASSERT_TRUE(
        rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), db_path, &names)
            .ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const auto& n : names)
      cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(
        rocksdb::DB::Open(rocksdb::DBOptions(), db_path, cfs, &handles, &raw)
            .ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), storage_internal::kFormatKey,
                        storage_internal::EncodeU32(
                            storage_internal::kFormatVersion + 1))
                    .ok());
    for (auto* h : handles) delete h;
  }
  auto st = Storage::Open(tmp.path(), StorageOptions{});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(st.status(), "newer qvdb")) << st.status();
  EXPECT_TRUE(Contains(st.status(), "format version 2")) << st.status();
}

TEST(StorageOpenTest, ASecondOpenOfTheSameDirectoryIsRefused) {
  TempDir tmp;
  MakeDataDir(tmp.path());
  auto first = Storage::Open(tmp.path(), StorageOptions{});
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Storage::Open(tmp.path(), StorageOptions{});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition)
      << second.status();
  EXPECT_TRUE(Contains(second.status(), "already open")) << second.status();
}

// --- snapshots ---

TEST(StorageSnapshotTest, SnapshotWhileWritingRestoresWholeBatches) {
  TempDir tmp;
  const std::string dir = tmp.Sub("data");
  auto opened = Storage::Open(dir, CreateOptions());
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<Storage> st = std::move(*opened);
  ASSERT_OK(st->CreateCollection(Config("c")));

  constexpr uint64_t kBatch = 50;
  std::atomic<uint64_t> acked{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (uint64_t b = 0; !stop.load(); ++b) {
      std::vector<Mutation> batch;
      for (uint64_t i = 0; i < kBatch; ++i) {
        batch.push_back(Mutation::Upsert(b * kBatch + i, VectorBytes(i),
                                         fmt::format("{}", b)));
      }
      if (!st->Write("c", batch).ok()) return;
      acked.store(b + 1);
    }
  });
  while (acked.load() < 10)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const uint64_t acked_before = acked.load();
  auto snap = st->CreateSnapshot("s1");
  stop.store(true);
  writer.join();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->name, "s1");

  ASSERT_OK(Storage::RestoreSnapshot(snap->path, tmp.Sub("restored")));
  auto restored = Storage::Open(tmp.Sub("restored"), StorageOptions{});
  ASSERT_TRUE(restored.ok()) << restored.status();
  ASSERT_OK_AND_ASSIGN(auto counts, (*restored)->Counts("c"));
  EXPECT_EQ(counts.live_rows % kBatch, 0u) << "half a batch in the snapshot";
  const uint64_t batches = counts.live_rows / kBatch;
  EXPECT_GE(batches, acked_before);
  for (uint64_t b = 0; b <= batches; ++b) {
    for (uint64_t i = 0; i < kBatch; i += 7) {
      auto row = (*restored)->Get("c", b * kBatch + i);
      if (b < batches) {
        ASSERT_TRUE(row.ok()) << row.status();
        EXPECT_EQ(row->payload, fmt::format("{}", b));
      } else {
        EXPECT_EQ(row.status().code(), absl::StatusCode::kNotFound);
      }
    }
  }
  // The restored copy is independent: writing there leaves the source.
  ASSERT_OK(
      (*restored)->Write("c", std::vector{Mutation::Delete(uint64_t{0})}));
  EXPECT_OK(st->Get("c", uint64_t{0}));
}

TEST(StorageSnapshotTest, ListDeleteAndBadNames) {
  TempDir tmp;
  auto opened = Storage::Open(tmp.path(), CreateOptions());
  ASSERT_TRUE(opened.ok()) << opened.status();
  Storage& st = **opened;
  ASSERT_OK_AND_ASSIGN(auto none, st.ListSnapshots());
  EXPECT_TRUE(none.empty());
  ASSERT_OK(st.CreateSnapshot("b-2"));
  ASSERT_OK(st.CreateSnapshot("a.1"));
  EXPECT_EQ(st.CreateSnapshot("a.1").status().code(),
            absl::StatusCode::kAlreadyExists);
  for (std::string bad : {"", "..", ".hidden", "a/b", "x.tmp", "sp ace"}) {
    EXPECT_EQ(st.CreateSnapshot(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  ASSERT_OK_AND_ASSIGN(auto list, st.ListSnapshots());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "a.1");
  EXPECT_EQ(list[1].name, "b-2");
  ASSERT_OK(st.DeleteSnapshot("a.1"));
  EXPECT_EQ(st.DeleteSnapshot("a.1").code(), absl::StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(list, st.ListSnapshots());
  ASSERT_EQ(list.size(), 1u);
  // The data directory with snapshots/ inside still reopens.
  opened->reset();
  EXPECT_OK(Storage::Open(tmp.path(), StorageOptions{}));
}

TEST(StorageSnapshotTest, RestoreRefusesBadSourcesAndTargets) {
  TempDir tmp;
  MakeDataDir(tmp.Sub("data"));
  auto opened = Storage::Open(tmp.Sub("data"), StorageOptions{});
  ASSERT_TRUE(opened.ok()) << opened.status();
  ASSERT_OK_AND_ASSIGN(SnapshotInfo snap, (*opened)->CreateSnapshot("s"));

  fs::create_directories(tmp.Sub("full"));
  WriteFile(fs::path(tmp.Sub("full")) / "x", "x");
  EXPECT_EQ(Storage::RestoreSnapshot(snap.path, tmp.Sub("full")).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Storage::RestoreSnapshot(tmp.Sub("full"), tmp.Sub("new")).code(),
            absl::StatusCode::kNotFound);

  // A damaged snapshot is refused and leaves no directory behind.
  fs::copy(snap.path, tmp.Sub("bad"));
  WriteFile(fs::path(tmp.Sub("bad")) / "CURRENT", "nonsense\n");
  auto st = Storage::RestoreSnapshot(tmp.Sub("bad"), tmp.Sub("new"));
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_FALSE(fs::exists(tmp.Sub("new")));

  // Into an existing empty directory.
  fs::create_directories(tmp.Sub("empty"));
  ASSERT_OK(Storage::RestoreSnapshot(snap.path, tmp.Sub("empty")));
  auto restored = Storage::Open(tmp.Sub("empty"), StorageOptions{});
  ASSERT_TRUE(restored.ok()) << restored.status();
  ASSERT_OK_AND_ASSIGN(Row r, (*restored)->Get("c", uint64_t{9}));
  EXPECT_EQ(r.vector, VectorBytes(9));
}

}  // namespace
}  // namespace qvdb
