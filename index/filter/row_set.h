// The rows a search under a filter may return (FieldIndex::Evaluate or
// EvaluateDense), as the scan's per-candidate test. A scan tests every
// candidate it meets (hundreds of thousands when a filter raises nprobe),
// and a Roaring lookup costs 50-100 ns, so a set that is not too sparse is
// held as a dense bit per row (one load a test): at most 16 words per row,
// i.e. 128 KB for any set over 1M rows. Dense sets are also what
// EvaluateDense builds directly, without the sort a Roaring needs.
#pragma once

#include <bit>
#include <cstdint>
#include <span>
#include <vector>

#include "index/search/id_filter.h"
#include "roaring/roaring.hh"

namespace qvdb {

// The bits set in `words`. With the POPCNT instruction where the CPU has
// it: a portable build's std::popcount is a libgcc call a word, 5 % of a
// 1 %-selective query's CPU at 1M rows (perf, before).
uint64_t CountBits(std::span<const uint64_t> words);

class RowSet final : public IdFilter {
 public:
  // The rows of `ids`: dense unless they are sparse.
  explicit RowSet(Roaring ids) {
    if (ids.isEmpty()) return;
    const size_t words = size_t(ids.maximum()) / 64 + 1;
    if (words > 16 * ids.cardinality()) {
      sparse_ = std::move(ids);
      return;
    }
    bits_.assign(words, 0);
    for (uint32_t id : ids) Add(id);
  }
  // No row yet, dense over rows [0, rows).
  static RowSet Dense(size_t rows) {
    RowSet s;
    s.bits_.assign((rows + 63) / 64, 0);
    return s;
  }

  // Dense sets only; a row beyond Dense's `rows` is left out.
  void Add(uint32_t row) {
    if (row / 64 < bits_.size()) bits_[row / 64] |= uint64_t{1} << (row % 64);
  }
  // Dense sets of the same size only.
  void IntersectWith(const RowSet& other) {
    for (size_t w = 0; w < bits_.size(); ++w) bits_[w] &= other.bits_[w];
  }
  void UniteWith(const RowSet& other) {
    for (size_t w = 0; w < bits_.size(); ++w) bits_[w] |= other.bits_[w];
  }
  // Dense sets only; rows of `ids` beyond the set's size are left out.
  void UniteWith(const Roaring& ids) {
    for (uint32_t id : ids) Add(id);
  }

  bool Contains(int64_t id) const override {
    if (id < 0 || id > int64_t{UINT32_MAX}) return false;
    if (bits_.empty()) return sparse_.contains(uint32_t(id));
    const size_t word = size_t(id) / 64;
    return word < bits_.size() && (bits_[word] >> (id % 64)) & 1;
  }
  void Prefetch(int64_t id) const override {
    if (!bits_.empty() && id >= 0 && size_t(id) / 64 < bits_.size()) {
      __builtin_prefetch(&bits_[size_t(id) / 64]);
    }
  }
  uint64_t cardinality() const {
    return bits_.empty() ? sparse_.cardinality() : CountBits(bits_);
  }
  // About n of the rows, ascending, spread over the set without listing
  // it: the first row at or after each of n evenly spaced rows (a row
  // after a long gap stands for more of the range than one in a run).
  // For a sample of a large set; fewer than n when rows are few.
  std::vector<int64_t> Spread(size_t n) const;
  // Ascending.
  std::vector<int64_t> ids() const {
    std::vector<int64_t> out;
    if (bits_.empty()) {
      out.reserve(sparse_.cardinality());
      for (uint32_t id : sparse_) out.push_back(int64_t(id));
      return out;
    }
    out.reserve(CountBits(bits_));
    for (size_t w = 0; w < bits_.size(); ++w) {
      for (uint64_t b = bits_[w]; b != 0; b &= b - 1) {
        out.push_back(int64_t(w * 64 + size_t(std::countr_zero(b))));
      }
    }
    return out;
  }

 private:
  RowSet() = default;
  Roaring sparse_;              // the rows, when bits_ is empty
  std::vector<uint64_t> bits_;  // a bit per row, when not too sparse
};

}  // namespace qvdb
