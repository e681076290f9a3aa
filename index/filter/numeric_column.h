// A numeric field's values by row, with an ordered index beside them, so a
// narrow range costs its result rather than a pass over every row.
//
// The column (value by row) answers wide ranges with one sequential pass
// (about 1 ns a row). The ordered index is (value, row) pairs sorted by
// value; a range is two binary searches and a walk over the pairs inside
// it, each checked against the column. Writes append to an unsorted tail,
// merged into the sorted pairs once it grows past a fraction of them, so a
// write costs O(1) amortised and a query scans a bounded tail. A pair whose
// row changed value or lost it stays until the next merge (stale); the
// check against the column and the rows that hold a value drops it.
//
// Thread safety: none inside; the owner (FieldIndex) is written under one
// lock and read from many readers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "roaring/roaring.hh"

namespace qvdb {

template <typename T>
class NumericColumn {
 public:
  // A closed or open bound of a range; an unbounded side is +-infinity
  // (or the integer limits) with inclusive = true.
  struct Range {
    T lo = std::numeric_limits<T>::lowest();
    bool lo_inclusive = true;
    T hi = std::numeric_limits<T>::max();
    bool hi_inclusive = true;
    bool Contains(T v) const {
      return (lo_inclusive ? v >= lo : v > lo) &&
             (hi_inclusive ? v <= hi : v < hi);
    }
  };

  // Row `row` holds `value` (whatever it held before becomes stale).
  void Set(uint32_t row, T value) {
    if (values_.size() <= row) {
      values_.resize(std::max<size_t>(row + 1, values_.size() * 3 / 2), T{});
    }
    values_[row] = value;
    present_.add(row);
    tail_.push_back({value, row});
    if (tail_.size() > std::max<size_t>(kMinTail, sorted_.size() / 32)) {
      Merge();
    }
  }
  // Row `row` no longer holds a value. Its pair goes at the next merge,
  // which many such clears trigger.
  void Clear(uint32_t row) {
    if (!present_.contains(row)) return;
    present_.remove(row);
    if (++stale_ > std::max<size_t>(kMinTail, sorted_.size() / 4)) Merge();
  }
  // Bulk load: rows[i] holds values[i]. One sort at the end.
  void Load(std::span<const uint32_t> rows, std::span<const T> values) {
    for (size_t i = 0; i < rows.size(); ++i) {
      if (values_.size() <= rows[i]) values_.resize(rows[i] + 1, T{});
      values_[rows[i]] = values[i];
      present_.add(rows[i]);
      tail_.push_back({values[i], rows[i]});
    }
    Merge();
  }
  // Drops everything (the owner's last row is gone).
  void Reset() { *this = NumericColumn(); }

  // The rows holding a value.
  const Roaring& present() const { return present_; }

  // The rows whose value lies in `range`. The ordered index when the range
  // holds few pairs, else one pass over the column.
  Roaring Select(const Range& range) const {
    auto [begin, end] = Bounds(range);
    const size_t in_range = size_t(end - begin) + tail_.size();
    if (in_range * kOrderedCostPerRow > values_.size()) {
      return SelectByScan(range);
    }
    return SelectByOrder(range);
  }
  // Both paths, for tests: each must give the same rows.
  Roaring SelectByScan(const Range& range) const {
    std::vector<uint32_t> hits;
    for (size_t row = 0; row < values_.size(); ++row) {
      if (range.Contains(values_[row])) hits.push_back(uint32_t(row));
    }
    Roaring out;
    out.addMany(hits.size(), hits.data());  // ascending: the fast path
    out &= present_;  // drops the stale values of rows without one
    return out;
  }
  Roaring SelectByOrder(const Range& range) const {
    auto [begin, end] = Bounds(range);
    std::vector<uint32_t> hits;
    hits.reserve(size_t(end - begin));
    auto take = [&](const Entry& e) {
      // Current only if the row still holds this value.
      if (values_[e.row] == e.value && present_.contains(e.row)) {
        hits.push_back(e.row);
      }
    };
    for (auto it = begin; it != end; ++it) take(*it);
    for (const Entry& e : tail_) {
      if (range.Contains(e.value)) take(e);
    }
    std::sort(hits.begin(), hits.end());
    hits.erase(std::unique(hits.begin(), hits.end()), hits.end());
    Roaring out;
    out.addMany(hits.size(), hits.data());
    return out;
  }

  size_t memory_bytes() const {
    return present_.getSizeInBytes() + values_.capacity() * sizeof(T) +
           (sorted_.capacity() + tail_.capacity()) * sizeof(Entry);
  }

 private:
  struct Entry {
    T value;
    uint32_t row;
    bool operator<(const Entry& o) const {
      return value < o.value || (value == o.value && row < o.row);
    }
    bool operator==(const Entry& o) const {
      return value == o.value && row == o.row;
    }
  };
  static constexpr size_t kMinTail = 1024;
  // A pair read through the ordered index (a random check of the column,
  // then a sort) costs about as much as this many rows of the sequential
  // scan.
  static constexpr size_t kOrderedCostPerRow = 16;

  using Iter = typename std::vector<Entry>::const_iterator;
  std::pair<Iter, Iter> Bounds(const Range& range) const {
    auto begin = range.lo_inclusive
                     ? std::lower_bound(sorted_.begin(), sorted_.end(),
                                        range.lo, ValueLess{})
                     : std::upper_bound(sorted_.begin(), sorted_.end(),
                                        range.lo, ValueLess{});
    auto end = range.hi_inclusive
                   ? std::upper_bound(begin, sorted_.end(), range.hi,
                                      ValueLess{})
                   : std::lower_bound(begin, sorted_.end(), range.hi,
                                      ValueLess{});
    return {begin, std::max(begin, end)};
  }
  struct ValueLess {
    bool operator()(const Entry& e, T v) const { return e.value < v; }
    bool operator()(T v, const Entry& e) const { return v < e.value; }
  };

  // Sorts the tail into the sorted pairs and drops the stale ones (a pair
  // whose row now holds another value, or none) and duplicates (a row set
  // to a value, away, and back).
  void Merge() {
    std::sort(tail_.begin(), tail_.end());
    std::vector<Entry> merged;
    merged.reserve(sorted_.size() + tail_.size());
    std::merge(sorted_.begin(), sorted_.end(), tail_.begin(), tail_.end(),
               std::back_inserter(merged));
    merged.erase(std::remove_if(merged.begin(), merged.end(),
                                [&](const Entry& e) {
                                  return !(values_[e.row] == e.value) ||
                                         !present_.contains(e.row);
                                }),
                 merged.end());
    merged.erase(std::unique(merged.begin(), merged.end()), merged.end());
    merged.shrink_to_fit();
    sorted_ = std::move(merged);
    tail_.clear();
    stale_ = 0;
  }

  Roaring present_;            // rows holding a value
  std::vector<T> values_;      // by row
  std::vector<Entry> sorted_;  // by (value, row)
  std::vector<Entry> tail_;    // written since the last merge, unsorted
  size_t stale_ = 0;           // clears since the last merge
};

}  // namespace qvdb
