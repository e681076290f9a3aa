// Test support for server/ tests (not part of qvdb_engine): engine options
// for a temporary directory and deterministic rows. Reuses storage/'s
// TempDir and ASSERT_OK macros.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string_view>
#include <thread>
#include <string>
#include <vector>

#include "server/engine/collection_engine.h"
#include "storage/test_util.h"

namespace qvdb::engine_testing {

using storage_testing::TempDir;

// Options for a data directory in a test: created on demand, no automatic
// training (tests train explicitly unless they test the automatic path).
inline EngineOptions TestOptions(const std::string& dir) {
  EngineOptions o;
  o.data_dir = dir;
  o.storage.create_if_missing = true;
  o.auto_train = false;
  o.search_threads = 1;
  return o;
}

// A vector in [-1, 1]^dim derived from `seed` only.
inline std::vector<float> SeededVector(uint64_t seed, int dim) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 17);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(dim);
  for (float& x : v) x = u(rng);
  return v;
}

// Rows with u64 ids first..first+n-1, seeded vectors and payload "p<id>".
inline std::vector<UpsertRow> SeededRows(uint64_t first, size_t n, int dim,
                                         uint64_t seed_offset = 0) {
  std::vector<UpsertRow> rows(n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t id = first + i;
    rows[i].id = id;
    rows[i].vector = SeededVector(id + seed_offset, dim);
    rows[i].payload = fmt::format("p{}", id);
  }
  return rows;
}

inline uint64_t U64(const UserId& id) {
  return std::holds_alternative<uint64_t>(id) ? std::get<uint64_t>(id)
                                              : ~uint64_t{0};
}

// Two searches' answers are identical: ids, scores and payloads, in order.
inline void ExpectSameResults(const std::vector<std::vector<Hit>>& a,
                              const std::vector<std::vector<Hit>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t q = 0; q < a.size(); ++q) {
    ASSERT_EQ(a[q].size(), b[q].size()) << "query " << q;
    for (size_t j = 0; j < a[q].size(); ++j) {
      EXPECT_EQ(a[q][j].id, b[q][j].id) << "query " << q << " hit " << j;
      EXPECT_EQ(a[q][j].score, b[q][j].score) << "query " << q << " hit " << j;
      EXPECT_EQ(a[q][j].payload, b[q][j].payload);
    }
  }
}

// The ids of hits, as u64 (string ids become ~0).
inline std::vector<uint64_t> HitIds(const std::vector<Hit>& hits) {
  std::vector<uint64_t> ids;
  for (const Hit& h : hits) ids.push_back(U64(h.id));
  return ids;
}

// Waits until collection `name`'s refine file is ready (a background
// rebuild finished), at most `timeout_s`; false if it never was.
inline bool WaitForRefineFile(const Engine& e, std::string_view name,
                              double timeout_s = 60) {
  const auto end = std::chrono::steady_clock::now() +
                   std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    auto s = e.Stats(name);
    if (!s.ok()) return false;
    if (s->refine_file_attached) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace qvdb::engine_testing
