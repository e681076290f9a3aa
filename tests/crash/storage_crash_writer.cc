// Child process of storage_crash_test: writes numbered batches to the data
// directory argv[1] until killed, and after each acknowledged Write sends
// the batch number (8 bytes) on file descriptor argv[2].
//
// Batch b upserts rows b*K .. b*K+K-1 (K = argv[3]) with payload "b" and
// updates the string row "last" to payload "b". argv[4] is "every" or
// "grouped" (the SyncPolicy). It resumes after the batches already stored.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "storage/storage.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr,
                 "usage: %s DATA_DIR ACK_FD ROWS_PER_BATCH every|grouped\n",
                 argv[0]);
    return 2;
  }
  const int fd = std::atoi(argv[2]);
  const uint64_t k = std::strtoull(argv[3], nullptr, 10);
  qvdb::StorageOptions options;
  options.create_if_missing = true;
  if (std::string(argv[4]) == "grouped") {
    options.sync_policy = qvdb::SyncPolicy::kGrouped;
    options.group_sync_interval_ms = 50;
  }
  auto storage = qvdb::Storage::Open(argv[1], options);
  if (!storage.ok()) {
    std::fprintf(stderr, "%s\n", storage.status().ToString().c_str());
    return 3;
  }
  qvdb::Storage& st = **storage;
  if (auto c = st.CreateCollection({"c", 4, qvdb::Metric::kL2, "Flat"});
      !c.ok() && !absl::IsAlreadyExists(c.status())) {
    std::fprintf(stderr, "%s\n", c.status().ToString().c_str());
    return 4;
  }
  auto counts = st.Counts("c");
  if (!counts.ok()) return 5;
  const uint64_t first = counts->live_rows / k;  // "last" adds 1, dropped
  const std::string vector(16, 'v');
  for (uint64_t b = first;; ++b) {
    std::vector<qvdb::Mutation> batch;
    for (uint64_t i = 0; i < k; ++i) {
      batch.push_back(
          qvdb::Mutation::Upsert(b * k + i, vector, fmt::format("{}", b)));
    }
    batch.push_back(qvdb::Mutation::Upsert(std::string("last"), vector,
                                           fmt::format("{}", b)));
    if (auto r = st.Write("c", batch); !r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
      return 6;
    }
    if (::write(fd, &b, sizeof(b)) != sizeof(b)) return 7;
  }
}
