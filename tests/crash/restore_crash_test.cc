// Issue 16, defect 2: a crash during RestoreSnapshot restarted the server on
// an empty database (the data directory had been renamed away, and
// create_if_missing made a fresh one). A child process restores a snapshot
// and dies (_exit, as abruptly as a SIGKILL for our files) at each step of
// the restore; the server's own open must then find the old data or the
// restored data, never an empty directory.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "server/engine/engine_test_util.h"
#include "server/engine_holder.h"

namespace qvdb {
namespace {

using engine_testing::SeededRows;
using engine_testing::TempDir;
using engine_testing::TestOptions;

constexpr int kDim = 8;
constexpr uint64_t kSnapshotRows = 100;  // in the snapshot
constexpr uint64_t kLiveRows = 250;      // in the data directory

// Rows of collection "c" as the server would open the directory (with
// create_if_missing, as qvdb-server does); 0 when it has no collection.
uint64_t RowsAfterRestart(const EngineOptions& o) {
  auto e = Engine::Open(o);
  EXPECT_TRUE(e.ok()) << e.status();
  if (!e.ok()) return 0;
  auto st = (*e)->Stats("c");
  return st.ok() ? st->live_rows : 0;
}

void Prepare(const EngineOptions& o) {
  auto e = Engine::Open(o);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_OK((*e)->CreateCollection({"c", kDim, Metric::kL2, "Flat"}));
  ASSERT_OK((*e)->Upsert("c", SeededRows(0, kSnapshotRows, kDim)));
  ASSERT_OK((*e)->CreateSnapshot("s").status());
  ASSERT_OK((*e)->Upsert(
      "c", SeededRows(kSnapshotRows, kLiveRows - kSnapshotRows, kDim)));
}

// Runs a restore in a child that exits at `step` ("" for none).
void RestoreInChild(const EngineOptions& o, const std::string& step) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto e = Engine::Open(o);
    if (!e.ok()) _exit(3);
    EngineHolder holder(o, *std::move(e));
    holder.SetStepHookForTesting([&](std::string_view s) {
      if (s == step) _exit(0);
    });
    auto r = holder.Restore("s", std::chrono::seconds(5));
    _exit(r.ok() ? 0 : 4);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << "step " << step;
}

TEST(RestoreCrashTest, RestoreCrashKeepsOldOrNewData) {
  struct Case {
    const char* step;
    uint64_t rows;  // what the next open must serve
  };
  for (const Case& c : {Case{"staged", kLiveRows}, Case{"closed", kLiveRows},
                        Case{"swapped", kSnapshotRows},
                        Case{"", kSnapshotRows}}) {
    TempDir tmp;
    const EngineOptions o = TestOptions(tmp.Sub("data"));
    Prepare(o);
    RestoreInChild(o, c.step);
    EXPECT_EQ(RowsAfterRestart(o), c.rows) << "crash at " << c.step;
    EXPECT_FALSE(std::filesystem::exists(Storage::RestoreStagingDir(o.data_dir)))
        << c.step;
  }
}

// The window the old code left open: the data directory renamed away and
// the restored copy not yet in its place. Open finishes the swap.
TEST(RestoreCrashTest, CrashBetweenTheRenamesRollsForward) {
  TempDir tmp;
  const EngineOptions o = TestOptions(tmp.Sub("data"));
  Prepare(o);
  const std::string staging = Storage::RestoreStagingDir(o.data_dir);
  ASSERT_OK(Storage::RestoreSnapshot(
      (std::filesystem::path(o.data_dir) / "snapshots" / "s").string(),
      staging));
  std::filesystem::rename(o.data_dir, o.data_dir + ".replaced-test");
  EXPECT_EQ(RowsAfterRestart(o), kSnapshotRows);
}

}  // namespace
}  // namespace qvdb
