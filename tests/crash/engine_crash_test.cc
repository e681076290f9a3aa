// Crash test of the engine: a child process (engine_crash_writer) ingests
// batches through Engine and reports each acknowledged write on a pipe; we
// SIGKILL it at a random moment, reopen the data directory with an Engine,
// and check that every acknowledged row is there with its payload and
// vector, that no batch is half there, that the index holds exactly the
// live rows and answers searches, and that the field indexes (loaded from
// storage's postings) agree with the rows present: each filter's rows are
// the rows whose values pass it. Three tests: plain ingest (both sync
// policies), kills during training, kills around compaction.
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "server/engine/collection_engine.h"
#include "server/engine/engine_test_util.h"
#include "tests/crash/engine_crash_common.h"
#include "storage/test_util.h"

namespace qvdb {
namespace {

using engine_crash::kCollection;
using engine_crash::kCompactDone;
using engine_crash::kCompactStarted;
using engine_crash::kDeleteAck;
using engine_crash::kEvent;
using engine_crash::kTrainDone;
using engine_crash::kTrainStarted;
using engine_crash::Payload;
using engine_crash::RowVector;
using storage_testing::TempDir;

constexpr uint64_t kRowsPerBatch = 20;
constexpr int kReadTimeoutMs = 60000;

// What the child acknowledged so far.
struct Acks {
  uint64_t batches = 0;  // batches 0..batches-1 acknowledged
  uint64_t batch_acks = 0;  // batch acknowledgements received
  uint64_t messages = 0;
  std::set<uint64_t> deletes;  // batches whose first row's delete was acked
  int train_started = 0, train_done = 0;
  int compact_started = 0, compact_done = 0;
  bool eof = false;
};

// Reads messages until `done` holds or the pipe closes (false on timeout).
bool ReadUntil(int fd, Acks* acks, const std::function<bool()>& done) {
  while (!done() && !acks->eof) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kReadTimeoutMs) <= 0) return false;
    uint64_t m = 0;
    if (::read(fd, &m, sizeof(m)) != static_cast<ssize_t>(sizeof(m))) {
      acks->eof = true;
      break;
    }
    ++acks->messages;
    if (m & kEvent) {
      switch (m & ~kEvent) {
        case kTrainStarted: ++acks->train_started; break;
        case kTrainDone: ++acks->train_done; break;
        case kCompactStarted: ++acks->compact_started; break;
        case kCompactDone: ++acks->compact_done; break;
      }
    } else if (m & kDeleteAck) {
      acks->deletes.insert(m & ~kDeleteAck);
    } else {
      ++acks->batch_acks;
      acks->batches = std::max(acks->batches, m + 1);
    }
  }
  return true;
}

// Reads whatever the child has sent already, without waiting.
void Drain(int fd, Acks* acks) {
  pollfd p{fd, POLLIN, 0};
  while (!acks->eof && ::poll(&p, 1, 0) > 0) {
    const uint64_t n = acks->messages;
    ReadUntil(fd, acks, [&] { return acks->messages > n; });
  }
}

struct RoundResult {
  uint64_t stored = 0;  // batches found after the kill
  bool trained = false;
};

// The field index loaded from storage's postings agrees with the rows
// present: every filter's result is the set the rows give. `b` of "last"
// was rewritten by every batch, so only the last stored batch counts it.
void VerifyFieldIndex(const Engine& e, uint64_t stored,
                      const std::vector<uint64_t>& with_mod,
                      const std::map<uint64_t, uint64_t>& in_batch) {
  auto count = [&](const std::string& filter) -> uint64_t {
    auto n = e.Count(kCollection, RowFilter{filter, std::nullopt});
    EXPECT_TRUE(n.ok()) << filter << ": " << n.status();
    return n.ok() ? *n : ~uint64_t{0};
  };
  uint64_t live_u64 = 0;
  for (uint64_t m = 0; m < 5; ++m) {
    live_u64 += with_mod[m];
    EXPECT_EQ(count(fmt::format(R"(mod = "m{}")", m)), with_mod[m])
        << "field index of mod disagrees with the rows, m" << m;
  }
  EXPECT_EQ(count("exists(mod)"), live_u64);
  EXPECT_EQ(count("b >= 0"), live_u64 + (stored > 0 ? 1 : 0));
  EXPECT_EQ(count("not exists(b)"), 0u);
  for (uint64_t b = 0; b < stored; ++b) {
    if (b + 3 < stored && b % std::max<uint64_t>(1, stored / 10) != 0) {
      continue;  // a sample of the batches, and the last few
    }
    const auto it = in_batch.find(b);
    const uint64_t rows = (it == in_batch.end() ? 0 : it->second) +
                          (b + 1 == stored ? 1 : 0);
    ASSERT_EQ(count(fmt::format("b = {}", b)), rows)
        << "field index of b disagrees with the rows, batch " << b;
    // The same set as the rows: ids of the batch, and "last" for the last.
    auto got = e.GetWhere(kCollection, RowFilter{fmt::format("b = {}", b),
                                                 std::nullopt},
                          1000, GetOptions{});
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->rows.size(), rows) << "batch " << b;
    for (const GetResult& r : got->rows) {
      if (std::holds_alternative<std::string>(r.id)) {
        EXPECT_EQ(std::get<std::string>(r.id), "last");
        EXPECT_EQ(b + 1, stored);
      } else {
        EXPECT_EQ(std::get<uint64_t>(r.id) / kRowsPerBatch, b);
      }
    }
  }
  EXPECT_EQ(count(fmt::format("b = {}", stored)), 0u) << "an unstored batch";
}

// Reopens the directory and checks it against what was acknowledged.
void Verify(const std::string& dir, const std::string& mode,
            const Acks& acks, RoundResult* out) {
  EngineOptions o;
  o.data_dir = dir;
  o.auto_train = false;
  o.search_threads = 1;
  // The refine file a kill left unclean is rebuilt in the background: the
  // checks below run while re-ranking reads RocksDB, then from the file.
  o.refine_sync_rebuild_max_rows = 0;
  auto opened = Engine::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Engine& e = **opened;
  const std::vector<UserId> last = {std::string("last")};
  ASSERT_OK_AND_ASSIGN(auto got, e.Get(kCollection, last, GetOptions{}));
  const uint64_t stored =
      got[0].found ? engine_crash::BatchOf(got[0].payload) + 1 : uint64_t{0};
  out->stored = stored;
  ASSERT_GE(stored, acks.batches) << "an acknowledged batch was lost";
  const bool compact = mode == "compact";

  // Every row of every stored batch, with its payload and vector; none of
  // the next batch.
  uint64_t deleted = 0;
  std::vector<uint64_t> with_mod(5, 0);  // live u64 rows by id % 5
  std::map<uint64_t, uint64_t> in_batch;  // live u64 rows by batch
  for (uint64_t b = 0; b <= stored; ++b) {
    std::vector<UserId> ids;
    for (uint64_t i = 0; i < kRowsPerBatch; ++i) {
      ids.push_back(b * kRowsPerBatch + i);
    }
    ASSERT_OK_AND_ASSIGN(auto rows,
                         e.Get(kCollection, ids, GetOptions{true, true}));
    for (uint64_t i = 0; i < kRowsPerBatch; ++i) {
      const uint64_t id = b * kRowsPerBatch + i;
      if (b == stored) {
        ASSERT_FALSE(rows[i].found) << "row " << id << " of unacknowledged, "
                                    << "unstored batch " << b << " is visible";
        continue;
      }
      if (compact && i == 0) {
        // Deleted after its batch: surely for all but the last batch.
        const bool must_be_gone = b + 1 < stored || acks.deletes.count(b);
        if (must_be_gone) {
          ASSERT_FALSE(rows[i].found) << "acknowledged delete of " << id;
        }
        if (!rows[i].found) {
          ++deleted;
          continue;
        }
      }
      ASSERT_TRUE(rows[i].found) << "row " << id << " of batch " << b;
      ASSERT_EQ(rows[i].payload, Payload(b, id)) << "row " << id;
      ASSERT_EQ(rows[i].vector, RowVector(id)) << "row " << id;
      ++with_mod[id % 5];
      ++in_batch[b];
    }
  }
  VerifyFieldIndex(e, stored, with_mod, in_batch);
  if (::testing::Test::HasFatalFailure()) return;
  ASSERT_OK_AND_ASSIGN(CollectionStats st, e.Stats(kCollection));
  const uint64_t expected =
      stored == 0 ? 0 : stored * kRowsPerBatch + 1 - deleted;
  ASSERT_EQ(st.live_rows, expected) << "half a batch is visible";
  ASSERT_EQ(st.indexed_vectors, st.live_rows)
      << "the index does not hold exactly the live rows";
  out->trained = st.trained;

  // The index answers: rows find themselves; deleted rows are not found.
  SearchOptions so;
  so.k = 1;
  so.nprobe = 8;
  so.refine_factor = 50;
  for (uint64_t b = 0; b < stored; b += std::max<uint64_t>(1, stored / 10)) {
    const uint64_t id = b * kRowsPerBatch + 1;
    ASSERT_OK_AND_ASSIGN(auto hits, e.Search(kCollection, RowVector(id), so));
    ASSERT_EQ(hits[0].size(), 1u);
    EXPECT_EQ(hits[0][0].id, UserId(id));
    EXPECT_EQ(hits[0][0].payload, Payload(b, id));
    // Re-ranked with its own float32 vector from the disk tier (the refine
    // file, rebuilt after the kill): distance exactly 0, which the PQ code
    // alone would not give.
    if (st.trained) {
      EXPECT_EQ(hits[0][0].score, 0.0f) << "row " << id;
    }
    if (compact && b + 1 < stored) {
      SearchOptions ten = so;
      ten.k = 10;
      ASSERT_OK_AND_ASSIGN(
          hits, e.Search(kCollection, RowVector(b * kRowsPerBatch), ten));
      for (const Hit& h : hits[0]) {
        EXPECT_NE(h.id, UserId(b * kRowsPerBatch)) << "a deleted row";
      }
    }
  }
  if (st.trained && stored > 0) {
    ASSERT_TRUE(engine_testing::WaitForRefineFile(e, kCollection));
    ASSERT_OK_AND_ASSIGN(CollectionStats rebuilt, e.Stats(kCollection));
    // Once rebuilt, every row re-ranks from the file, exactly.
    for (uint64_t b = 0; b < stored; b += std::max<uint64_t>(1, stored / 10)) {
      const uint64_t id = b * kRowsPerBatch + 1;
      ASSERT_OK_AND_ASSIGN(auto hits, e.Search(kCollection, RowVector(id), so));
      ASSERT_EQ(hits[0].size(), 1u);
      EXPECT_EQ(hits[0][0].id, UserId(id));
      EXPECT_EQ(hits[0][0].score, 0.0f) << "row " << id;
    }
    ASSERT_OK_AND_ASSIGN(CollectionStats after, e.Stats(kCollection));
    EXPECT_TRUE(after.refine_file_attached);
    EXPECT_GT(after.refine_fetched_from_file, 0u);
    EXPECT_EQ(after.refine_fetched_from_storage,
              rebuilt.refine_fetched_from_storage)
        << "after the rebuild the refine file lacks rows RocksDB holds";
    // Killed, so never closed cleanly: rebuilt from RocksDB at load.
    EXPECT_NE(after.refine_file_rebuild_reason, "");
  }
  // And keeps taking writes.
  std::vector<UpsertRow> probe = {{std::string("probe"), RowVector(7), "{}"}};
  ASSERT_OK(e.Upsert(kCollection, probe));
  const std::vector<UserId> del = {std::string("probe")};
  ASSERT_OK(e.Delete(kCollection, del));
}

// Runs `rounds` kill-and-verify rounds of one mode. `kill_after` waits for
// the moment to kill (after the first acknowledgements) and says whether
// the kill is meant to land inside the operation under test.
void RunRounds(const std::string& mode, int rounds,
               const std::function<bool(int, Acks*, std::mt19937&)>& kill_after,
               int* hits) {
  TempDir tmp;
  const std::string dir = tmp.Sub("data");
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  *hits = 0;
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE(::testing::Message() << mode << " round " << round);
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
      ::execl(QVDB_ENGINE_CRASH_WRITER, QVDB_ENGINE_CRASH_WRITER, dir.c_str(),
              fd.c_str(), k.c_str(), mode.c_str(), policy,
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    Acks acks;
    // Let it get going (it resumes after the batches of earlier rounds).
    bool ok = ReadUntil(fds[0], &acks, [&] { return acks.batch_acks >= 5; });
    bool inside = false;
    if (ok && !acks.eof) inside = kill_after(fds[0], &acks, rng);
    ::kill(pid, SIGKILL);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    ReadUntil(fds[0], &acks, [] { return false; });
    ::close(fds[0]);
    ASSERT_TRUE(ok) << "the writer sent nothing for " << kReadTimeoutMs
                    << " ms";
    ASSERT_TRUE(WIFSIGNALED(wstatus))
        << "the writer exited by itself, code " << WEXITSTATUS(wstatus);
    if (inside) ++*hits;
    RoundResult r;
    Verify(dir, mode, acks, &r);
    if (::testing::Test::HasFatalFailure()) return;
    std::printf(
        "%s round %d (%s): %llu batch(es) acknowledged this round, %llu "
        "stored, %s, killed %s\n",
        mode.c_str(), round, policy,
        static_cast<unsigned long long>(acks.batch_acks),
        static_cast<unsigned long long>(r.stored),
        r.trained ? "trained" : "untrained",
        inside ? "inside the operation" : "outside it");
  }
}

TEST(EngineCrashTest, AcknowledgedBatchesSurviveSigkill) {
  int hits = 0;
  RunRounds("ingest", 4,
            [](int fd, Acks* acks, std::mt19937& rng) {
              std::this_thread::sleep_for(std::chrono::milliseconds(
                  std::uniform_int_distribution<int>(0, 300)(rng)));
              return true;
            },
            &hits);
}

TEST(EngineCrashTest, KillDuringTrainingKeepsTheOldModel) {
  int hits = 0;
  RunRounds("train", 4,
            [](int fd, Acks* acks, std::mt19937& rng) {
              // The child retrains back to back once it has kTrainAt rows,
              // so most moments are inside a training. (Waiting for the
              // next start instead would wait for a whole training, and
              // let the collection grow without bound across rounds.)
              std::this_thread::sleep_for(std::chrono::milliseconds(
                  std::uniform_int_distribution<int>(0, 300)(rng)));
              Drain(fd, acks);
              return acks->train_done < acks->train_started;
            },
            &hits);
  std::printf("%d of 4 kills landed during a training\n", hits);
  EXPECT_GE(hits, 1) << "no kill landed during a training";
}

TEST(EngineCrashTest, KillAroundCompaction) {
  int hits = 0;
  RunRounds("compact", 4,
            [](int fd, Acks* acks, std::mt19937& rng) {
              std::this_thread::sleep_for(std::chrono::milliseconds(
                  std::uniform_int_distribution<int>(0, 300)(rng)));
              Drain(fd, acks);
              return acks->compact_done < acks->compact_started;
            },
            &hits);
  // The child compacts back to back, but each compaction is brief (RAM
  // only): landing inside one is likely, not certain, and every kill must
  // be survived anyway.
  std::printf("%d of 4 kills landed during a compaction\n", hits);
}

}  // namespace
}  // namespace qvdb
