#include "index/filter/row_set.h"

#include <bit>

namespace qvdb {
namespace {

uint64_t CountBitsPortable(const uint64_t* words, size_t n) {
  uint64_t count = 0;
  for (size_t i = 0; i < n; ++i) count += uint64_t(std::popcount(words[i]));
  return count;
}

#if defined(__x86_64__)
// The same loop, compiled for POPCNT (called only after the CPUID check).
__attribute__((target("popcnt"))) uint64_t CountBitsPopcnt(
    const uint64_t* words, size_t n) {
  uint64_t count = 0;
  for (size_t i = 0; i < n; ++i) count += uint64_t(__builtin_popcountll(words[i]));
  return count;
}
#endif

}  // namespace

uint64_t CountBits(std::span<const uint64_t> words) {
#if defined(__x86_64__)
  static const bool kHasPopcnt = __builtin_cpu_supports("popcnt");
  if (kHasPopcnt) return CountBitsPopcnt(words.data(), words.size());
#endif
  return CountBitsPortable(words.data(), words.size());
}

}  // namespace qvdb
