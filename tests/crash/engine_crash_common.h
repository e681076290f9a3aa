// Shared by engine_crash_test and its child engine_crash_writer: the
// collection they use, the rows of each batch, and the messages the child
// sends on its pipe (one u64 each).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace qvdb::engine_crash {

inline constexpr char kCollection[] = "c";
inline constexpr int kDim = 16;
// Refine(Flat): re-ranking reads the stored vectors (the on-disk path).
inline constexpr char kSpec[] = "IVF8,PQ4x8,Refine(Flat)";
// Rows before the writer starts training (PQ4x8 needs 256).
inline constexpr uint64_t kTrainAt = 300;

// Batch b upserts rows b*K .. b*K+K-1 (u64 ids) with payload "b", plus the
// string row "last" with payload "b". In compact mode a second write then
// deletes row b*K.
inline constexpr uint64_t kDeleteAck = uint64_t{1} << 62;  // | b
inline constexpr uint64_t kEvent = uint64_t{1} << 63;      // | one below
inline constexpr uint64_t kTrainStarted = 1;
inline constexpr uint64_t kTrainDone = 2;
inline constexpr uint64_t kCompactStarted = 3;
inline constexpr uint64_t kCompactDone = 4;

// The vector of row `id` ("last" of batch b uses kLastSeed + b).
inline constexpr uint64_t kLastSeed = uint64_t{1} << 40;
inline std::vector<float> RowVector(uint64_t seed) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(kDim);
  for (float& x : v) x = u(rng);
  return v;
}

}  // namespace qvdb::engine_crash
