#include "index/filter/row_set.h"

#include <algorithm>
#include <bit>
#include <vector>

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

std::vector<int64_t> RowSet::Spread(size_t n) const {
  std::vector<int64_t> out;
  if (n == 0) return out;
  if (bits_.empty()) {  // sparse: every step-th row
    const uint64_t step = std::max<uint64_t>(1, sparse_.cardinality() / n);
    uint64_t i = 0;
    for (uint32_t id : sparse_) {
      if (i++ % step == 0) out.push_back(int64_t(id));
    }
    return out;
  }
  out.reserve(n);
  const size_t rows = bits_.size() * 64;
  size_t next = 0;  // rows before it are taken or passed over
  for (size_t i = 0; i < n; ++i) {
    const size_t from = std::max(next, i * rows / n);
    size_t w = from / 64;
    if (w >= bits_.size()) break;
    uint64_t word = bits_[w] & (~uint64_t{0} << (from % 64));
    while (word == 0 && ++w < bits_.size()) word = bits_[w];
    if (word == 0) break;
    const size_t row = w * 64 + size_t(std::countr_zero(word));
    out.push_back(int64_t(row));
    next = row + 1;
  }
  return out;
}

}  // namespace qvdb
