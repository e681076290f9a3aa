#include "storage/refine_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "storage/test_util.h"

namespace qvdb {
namespace {

using storage_testing::TempDir;

std::vector<uint8_t> Record(int64_t id, uint32_t bytes) {
  std::vector<uint8_t> r(bytes);
  for (uint32_t i = 0; i < bytes; ++i) r[i] = uint8_t(id * 31 + i * 7);
  return r;
}

std::unique_ptr<RefineFile> OpenOrDie(const std::string& path,
                                      uint32_t bytes = 40,
                                      uint64_t identity = 7) {
  auto f = RefineFile::Open(path, bytes, identity, /*source_version=*/3);
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? *std::move(f) : nullptr;
}

bool ReadsBack(const RefineFile& f, int64_t id) {
  std::vector<uint8_t> out(f.record_bytes());
  std::vector<bool> found;
  f.Read(&id, 1, out.data(), &found);
  return found[0] && out == Record(id, f.record_bytes());
}

TEST(RefineFileTest, RecordsRoundTripAcrossACleanReopen) {
  TempDir dir;
  const std::string path = dir.path() + "/c.qrf";
  {
    auto f = OpenOrDie(path);
    EXPECT_TRUE(f->needs_rebuild());
    EXPECT_EQ(f->rebuild_reason(), "missing");
    ASSERT_TRUE(f->MarkRebuilt().ok());
    for (int64_t id : {0, 1, 5, 4095, 4096, 100000}) {
      ASSERT_TRUE(f->Put(id, Record(id, 40).data()).ok());
    }
    ASSERT_TRUE(f->Erase(5).ok());
    ASSERT_TRUE(f->Close(3).ok());
  }
  auto f = OpenOrDie(path);
  EXPECT_FALSE(f->needs_rebuild()) << f->rebuild_reason();
  for (int64_t id : {0, 1, 4095, 4096, 100000}) EXPECT_TRUE(ReadsBack(*f, id));
  EXPECT_FALSE(ReadsBack(*f, 5));        // erased
  EXPECT_FALSE(ReadsBack(*f, 2));        // never written
  EXPECT_FALSE(ReadsBack(*f, 1 << 30));  // beyond the file
  EXPECT_FALSE(ReadsBack(*f, -1));
}

TEST(RefineFileTest, AFileNotClosedCleanlyIsRebuilt) {
  TempDir dir;
  const std::string path = dir.path() + "/c.qrf";
  {
    auto f = OpenOrDie(path);
    ASSERT_TRUE(f->MarkRebuilt().ok());
    ASSERT_TRUE(f->Put(3, Record(3, 40).data()).ok());
    ASSERT_TRUE(f->Sync().ok());
    // No Close: as after kill -9.
  }
  auto f = OpenOrDie(path);
  EXPECT_TRUE(f->needs_rebuild());
  EXPECT_EQ(f->rebuild_reason(), "not closed cleanly");
  EXPECT_FALSE(ReadsBack(*f, 3));  // emptied: the caller refills it
}

TEST(RefineFileTest, TruncatedDeletedOrForeignFilesAreDetected) {
  TempDir dir;
  const std::string path = dir.path() + "/c.qrf";
  auto write_clean = [&] {
    auto f = OpenOrDie(path);
    ASSERT_TRUE(f->MarkRebuilt().ok());
    for (int64_t id = 0; id < 100; ++id) {
      ASSERT_TRUE(f->Put(id, Record(id, 40).data()).ok());
    }
    ASSERT_TRUE(f->Close(3).ok());
  };
  write_clean();
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 3);
  EXPECT_EQ(OpenOrDie(path)->rebuild_reason(), "truncated records");

  write_clean();
  std::filesystem::resize_file(path, 100);
  EXPECT_EQ(OpenOrDie(path)->rebuild_reason(), "truncated header");

  write_clean();
  std::filesystem::remove(path);
  EXPECT_EQ(OpenOrDie(path)->rebuild_reason(), "missing");

  write_clean();
  EXPECT_EQ(OpenOrDie(path, 40, /*identity=*/8)->rebuild_reason(),
            "written for another collection or record size");
  write_clean();
  EXPECT_EQ(OpenOrDie(path, 44)->rebuild_reason(),
            "written for another collection or record size");

  write_clean();
  {
    std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(0);
    io.write("garbage!", 8);
  }
  EXPECT_EQ(OpenOrDie(path)->rebuild_reason(),
            "not a refine file, or a damaged header");
}

TEST(RefineFileTest, ADamagedRecordReadsAsNotFound) {
  TempDir dir;
  const std::string path = dir.path() + "/c.qrf";
  {
    auto f = OpenOrDie(path);
    ASSERT_TRUE(f->MarkRebuilt().ok());
    ASSERT_TRUE(f->Put(0, Record(0, 40).data()).ok());
    ASSERT_TRUE(f->Put(1, Record(1, 40).data()).ok());
    ASSERT_TRUE(f->Close(3).ok());
  }
  {
    // Flip a byte inside record 1 (header 4096, slots of 48 bytes).
    std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(4096 + 48 + 8 + 5);
    io.put('\xff');
  }
  auto f = OpenOrDie(path);
  EXPECT_FALSE(f->needs_rebuild());
  EXPECT_TRUE(ReadsBack(*f, 0));
  EXPECT_FALSE(ReadsBack(*f, 1));
}

TEST(RefineFileTest, BadArgumentsAreErrors) {
  TempDir dir;
  EXPECT_FALSE(RefineFile::Open(dir.path() + "/a", 0, 1, 0).ok());
  EXPECT_FALSE(RefineFile::Open(dir.path() + "/a", (1 << 20) + 1, 1, 0).ok());
  EXPECT_FALSE(RefineFile::Open(dir.path() + "/no/such/dir/a", 8, 1, 0).ok());
  auto f = OpenOrDie(dir.path() + "/b");
  EXPECT_FALSE(f->Put(-1, Record(0, 40).data()).ok());
}

// Readers never see a record that is not one that was written, while one
// A clean file closed at another version of the source (an old copy put
// back, or writes it missed) is stale: rebuilt, never trusted. A write after
// Close marks it unclean again.
TEST(RefineFileTest, AFileClosedAtAnotherSourceVersionIsStale) {
  TempDir dir;
  const std::string path = dir.path() + "/c.qrf";
  {
    auto f = OpenOrDie(path);
    ASSERT_TRUE(f->MarkRebuilt().ok());
    ASSERT_TRUE(f->Put(1, Record(1, 40).data()).ok());
    ASSERT_TRUE(f->Close(3).ok());
  }
  {
    auto f = RefineFile::Open(path, 40, 7, /*source_version=*/4);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_TRUE((*f)->needs_rebuild());
    EXPECT_NE((*f)->rebuild_reason().find("stale"), std::string::npos)
        << (*f)->rebuild_reason();
    EXPECT_FALSE(ReadsBack(**f, 1));  // emptied for the rebuild
    ASSERT_TRUE((*f)->MarkRebuilt().ok());
    ASSERT_TRUE((*f)->Put(1, Record(1, 40).data()).ok());
    ASSERT_TRUE((*f)->Close(4).ok());
    ASSERT_TRUE((*f)->Put(2, Record(2, 40).data()).ok());  // after Close
  }
  auto f = OpenOrDie(path);
  EXPECT_TRUE(f->needs_rebuild());
  EXPECT_EQ(f->rebuild_reason(), "not closed cleanly");
}

// writer appends (remapping as the file grows) and rewrites.
TEST(RefineFileTest, ConcurrentReadsDuringGrowthAndRewrites) {
  TempDir dir;
  auto f = OpenOrDie(dir.path() + "/c.qrf", 64);
  ASSERT_TRUE(f->MarkRebuilt().ok());
  std::atomic<bool> done{false};
  std::atomic<int64_t> written{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::vector<uint8_t> out(64);
      std::vector<bool> found;
      while (!done.load()) {
        const int64_t hi = written.load();
        if (hi == 0) continue;
        const int64_t id = rng() % hi;
        f->Read(&id, 1, out.data(), &found);
        if (found[0] && out != Record(id, 64)) bad.fetch_add(1);
      }
    });
  }
  for (int64_t id = 0; id < 20000; ++id) {
    ASSERT_TRUE(f->Put(id, Record(id, 64).data()).ok());
    written.store(id + 1);
    if (id % 7 == 0) {
      ASSERT_TRUE(f->Put(id / 2, Record(id / 2, 64).data()).ok());
    }
  }
  done.store(true);
  for (auto& r : readers) r.join();
  EXPECT_EQ(bad.load(), 0);
  for (int64_t id = 0; id < 20000; id += 997) EXPECT_TRUE(ReadsBack(*f, id));
}

}  // namespace
}  // namespace qvdb
