// Child process of engine_crash_test: ingests numbered batches through the
// Engine until killed, and after each acknowledged write sends a message on
// file descriptor argv[2] (engine_crash_common.h).
//
//   engine_crash_writer DATA_DIR ACK_FD ROWS_PER_BATCH MODE every|grouped
//
// MODE: "ingest" (writes; the collection is trained once it has kTrainAt
// rows), "train" (a second thread retrains the collection over and over
// while batches go in), "compact" (as ingest, each batch followed by a
// delete of its first row, while a second thread compacts over and over).
// It resumes after the batches already stored.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "server/engine/collection_engine.h"
#include "tests/crash/engine_crash_common.h"

namespace {

using qvdb::engine_crash::kCollection;
using qvdb::engine_crash::kCompactDone;
using qvdb::engine_crash::kCompactStarted;
using qvdb::engine_crash::kDeleteAck;
using qvdb::engine_crash::kDim;
using qvdb::engine_crash::kEvent;
using qvdb::engine_crash::kFields;
using qvdb::engine_crash::LastPayload;
using qvdb::engine_crash::Payload;
using qvdb::engine_crash::kLastSeed;
using qvdb::engine_crash::kSpec;
using qvdb::engine_crash::kTrainAt;
using qvdb::engine_crash::kTrainDone;
using qvdb::engine_crash::kTrainStarted;
using qvdb::engine_crash::RowVector;

// Sends one message on the pipe (8 bytes: atomic, so threads may share it).
class Acker {
 public:
  explicit Acker(int fd) : fd_(fd) {}
  void Send(uint64_t message) const {
    if (::write(fd_, &message, sizeof(message)) != sizeof(message)) {
      ::_exit(7);
    }
  }

 private:
  const int fd_;
};

[[noreturn]] void Fail(int code, const absl::Status& st) {
  std::fprintf(stderr, "engine_crash_writer: %s\n", st.ToString().c_str());
  ::_exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr,
                 "usage: %s DATA_DIR ACK_FD ROWS_PER_BATCH "
                 "ingest|train|compact every|grouped\n",
                 argv[0]);
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  const Acker acker(std::atoi(argv[2]));
  const uint64_t k = std::strtoull(argv[3], nullptr, 10);
  const std::string mode = argv[4];
  qvdb::EngineOptions options;
  options.data_dir = argv[1];
  options.storage.create_if_missing = true;
  options.auto_train = false;
  options.train_chunk_rows = 50;  // many storage writes per training
  options.search_threads = 1;
  if (std::string(argv[5]) == "grouped") {
    options.storage.sync_policy = qvdb::SyncPolicy::kGrouped;
    options.storage.group_sync_interval_ms = 50;
  }
  auto opened = qvdb::Engine::Open(options);
  if (!opened.ok()) Fail(3, opened.status());
  qvdb::Engine& engine = **opened;
  if (auto c = engine.CreateCollection(
          {kCollection, kDim, qvdb::Metric::kL2, kSpec, kFields});
      !c.ok() && !absl::IsAlreadyExists(c.status())) {
    Fail(4, c.status());
  }
  uint64_t first = 0;
  const std::vector<qvdb::UserId> last = {std::string("last")};
  auto got = engine.Get(kCollection, last, qvdb::GetOptions{});
  if (!got.ok()) Fail(5, got.status());
  if ((*got)[0].found) {
    first = qvdb::engine_crash::BatchOf((*got)[0].payload) + 1;
  }

  if (mode == "compact" && first > 0) {
    // The last run may have been killed between a batch and its delete.
    const std::vector<qvdb::UserId> del = {(first - 1) * k};
    if (auto r = engine.Delete(kCollection, del); !r.ok()) Fail(6, r.status());
    acker.Send(kDeleteAck | (first - 1));
  }
  if (mode == "compact") {
    std::thread([&engine, &acker] {
      for (;;) {
        acker.Send(kEvent | kCompactStarted);
        if (auto s = engine.Compact(kCollection); !s.ok()) Fail(10, s);
        acker.Send(kEvent | kCompactDone);
        std::this_thread::yield();
      }
    }).detach();
  }
  if (mode == "train") {
    std::thread([&engine, &acker] {
      for (;;) {
        auto st = engine.Stats(kCollection);
        if (!st.ok()) Fail(8, st.status());
        if (st->live_rows < kTrainAt) {
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
          continue;
        }
        acker.Send(kEvent | kTrainStarted);
        if (auto s = engine.Train(kCollection); !s.ok()) Fail(9, s);
        acker.Send(kEvent | kTrainDone);
      }
    }).detach();
  }
  for (uint64_t b = first;; ++b) {
    std::vector<qvdb::UpsertRow> rows;
    for (uint64_t i = 0; i < k; ++i) {
      rows.push_back({b * k + i, RowVector(b * k + i), Payload(b, b * k + i)});
    }
    rows.push_back(
        {std::string("last"), RowVector(kLastSeed + b), LastPayload(b)});
    if (auto r = engine.Upsert(kCollection, rows); !r.ok()) Fail(6, r.status());
    acker.Send(b);
    if (mode == "compact") {
      const std::vector<qvdb::UserId> del = {b * k};
      if (auto r = engine.Delete(kCollection, del); !r.ok()) {
        Fail(6, r.status());
      }
      acker.Send(kDeleteAck | b);
    }
    if (mode != "train") {
      // Train once, so that later batches carry codes.
      auto st = engine.Stats(kCollection);
      if (!st.ok()) Fail(8, st.status());
      if (!st->trained && st->live_rows >= kTrainAt) {
        if (auto s = engine.Train(kCollection); !s.ok()) Fail(9, s);
      }
    }
  }
}
