// Shared by engine_crash_test and its child engine_crash_writer: the
// collection they use, the rows of each batch, and the messages the child
// sends on its pipe (one u64 each).
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace qvdb::engine_crash {

inline constexpr char kCollection[] = "c";
inline constexpr int kDim = 16;
// Refine(Flat): re-ranking reads the stored vectors (the on-disk path).
inline constexpr char kSpec[] = "IVF8,PQ4x8,Refine(Flat)";
// Rows before the writer starts training (PQ4x8 needs 256).
inline constexpr uint64_t kTrainAt = 300;

// Batch b upserts rows b*K .. b*K+K-1 (u64 ids) with payload Payload(b, id),
// plus the string row "last" with payload LastPayload(b) (so "last" is
// rewritten, and its field values replaced, by every batch). In compact
// mode a second write then deletes row b*K.
//
// Declared fields, whose indexes are checked against the rows after each
// kill: `b` (the batch) and `mod` (derived from the row id).
inline constexpr char kFields[] = "b:int64,mod:keyword";
inline std::string Payload(uint64_t b, uint64_t id) {
  return fmt::format(R"({{"b":{},"mod":"m{}"}})", b, id % 5);
}
inline std::string LastPayload(uint64_t b) {
  return fmt::format(R"({{"b":{}}})", b);
}
// The batch a payload written by Payload or LastPayload names.
inline uint64_t BatchOf(const std::string& payload) {
  return std::strtoull(payload.c_str() + 5, nullptr, 10);  // after {"b":
}
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
