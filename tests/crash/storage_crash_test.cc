// Crash test: a child process writes batches and reports each acknowledged
// one; we SIGKILL it at a random moment, reopen, and check that every
// acknowledged batch is wholly there and no batch is half there. Rounds
// alternate the sync policies (both must survive a process crash).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include "gtest/gtest.h"
#include "storage/storage.h"
#include "storage/test_util.h"

namespace qvdb {
namespace {

using storage_testing::TempDir;

constexpr uint64_t kRowsPerBatch = 20;

// Reads 8-byte batch numbers from fd until `min_acks` came or EOF; returns
// the highest seen + 1 (0 when none), counting in *acks.
uint64_t ReadAcks(int fd, uint64_t min_acks, uint64_t* acks, uint64_t acked) {
  uint64_t b = 0;
  while (*acks < min_acks) {
    ssize_t n = ::read(fd, &b, sizeof(b));
    if (n != static_cast<ssize_t>(sizeof(b))) break;  // EOF: child gone
    ++*acks;
    acked = std::max(acked, b + 1);
  }
  return acked;
}

TEST(StorageCrashTest, AcknowledgedBatchesSurviveSigkill) {
  TempDir tmp;
  const std::string dir = tmp.Sub("data");
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  uint64_t acked = 0;  // batches 0..acked-1 were acknowledged
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    // Built before fork: the child may only exec.
    const std::string fd = std::to_string(fds[1]);
    const std::string k = std::to_string(kRowsPerBatch);
    const char* policy = round % 2 == 0 ? "every" : "grouped";
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      ::execl(QVDB_STORAGE_CRASH_WRITER, QVDB_STORAGE_CRASH_WRITER, dir.c_str(),
              fd.c_str(), k.c_str(), policy, static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    uint64_t acks = 0;
    acked = ReadAcks(fds[0], 5, &acks, acked);  // let it get going
    std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<int>(0, 300)(rng)));
    ::kill(pid, SIGKILL);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    acked = ReadAcks(fds[0], UINT64_MAX, &acks, acked);
    ::close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(wstatus))
        << "the writer exited by itself, code " << WEXITSTATUS(wstatus);
    ASSERT_GE(acks, 5u);

    auto opened = Storage::Open(dir, StorageOptions{});
    ASSERT_TRUE(opened.ok()) << opened.status();
    Storage& st = **opened;
    ASSERT_OK_AND_ASSIGN(CollectionCounts counts, st.Counts("c"));
    // K rows per batch, plus the row "last" once any batch is stored.
    const uint64_t rows = counts.live_rows == 0 ? 0 : counts.live_rows - 1;
    ASSERT_EQ(rows % kRowsPerBatch, 0u)
        << "half a batch is visible: " << counts.live_rows << " rows";
    const uint64_t stored = rows / kRowsPerBatch;
    ASSERT_GE(stored, acked) << "an acknowledged batch was lost";
    if (stored > 0) {
      ASSERT_OK_AND_ASSIGN(Row last, st.Get("c", std::string("last")));
      EXPECT_EQ(last.payload, fmt::format("{}", stored - 1));
    }
    // Every row of every stored batch, and none beyond.
    for (uint64_t b = 0; b < stored; ++b) {
      for (uint64_t i = 0; i < kRowsPerBatch; ++i) {
        auto row = st.Get("c", b * kRowsPerBatch + i, RowFields{true, false});
        ASSERT_TRUE(row.ok()) << "batch " << b << ": " << row.status();
        ASSERT_EQ(row->payload, fmt::format("{}", b));
      }
    }
    EXPECT_EQ(st.Get("c", stored * kRowsPerBatch).status().code(),
              absl::StatusCode::kNotFound);
    std::printf("round %d (%s): %llu acknowledged, %llu batches stored\n",
                round, policy, static_cast<unsigned long long>(acked),
                static_cast<unsigned long long>(stored));
    acked = stored;  // the next round resumes from here
  }
}

}  // namespace
}  // namespace qvdb
