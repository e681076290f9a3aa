// A numeric field's values by row, with an ordered index beside them, so a
// narrow range costs its result rather than a pass over every row.
//
// The column (value by row) answers wide ranges with one sequential pass
// (about 1 ns a row). The ordered index is (value, row) pairs sorted by
// value; a range is two binary searches and a walk over the pairs inside
// it. Writes append to an unsorted tail,
// merged into the sorted pairs once it grows past a fraction of them, so a
// write costs O(1) amortised and a query scans a bounded tail. A pair whose
// row changed value or lost it stays until the next merge (stale): the
// rows written since the merge are checked against the column.
//
// Thread safety: none inside; the owner (FieldIndex) is written under one
// lock and read from many readers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "base/huge_page_allocator.h"
#include "roaring/roaring.hh"

namespace qvdb {

template <typename T>
class NumericColumn {
 public:
  // Values from lo to hi, each bound closed or open; an unbounded side is
  // the type's lowest or highest value, inclusive.
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
    SetHas(row, true);
    // The row's earlier pair, if merged, is stale now.
    if (!present_.addChecked(row)) MarkStale(row);
    tail_.push_back({value, row});
    if (tail_.size() > std::max<size_t>(kMinTail, sorted_.size() / 32)) {
      Merge();
    }
  }
  // Row `row` no longer holds a value. Its pair goes at the next merge,
  // which many such clears trigger.
  void Clear(uint32_t row) {
    if (present_.removeChecked(row)) {
      SetHas(row, false);
      MarkStale(row);
    }
  }
  // Bulk load: rows[i] holds values[i]. One sort at the end.
  void Load(std::span<const uint32_t> rows, std::span<const T> values) {
    if (rows.empty()) return;
    // Sized once: growing row by row would leave up to 2x the capacity.
    const uint32_t last = *std::max_element(rows.begin(), rows.end());
    if (values_.size() <= last) values_.resize(size_t(last) + 1, T{});
    tail_.reserve(tail_.size() + rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      values_[rows[i]] = values[i];
      SetHas(rows[i], true);
      present_.add(rows[i]);
      tail_.push_back({values[i], rows[i]});
    }
    Merge();
  }
  // Drops everything (the owner's last row is gone).
  void Reset() { *this = NumericColumn(); }

  // The rows holding a value.
  const Roaring& present() const { return present_; }
  // Row `row`'s value, or false when it holds none. The per-candidate test
  // of a scan: a dense bit per row answers in one load, where the Roaring
  // lookup costs about ten times more.
  bool Get(uint32_t row, T* value) const {
    if (row >= values_.size() || !((has_[row / 64] >> (row % 64)) & 1)) {
      return false;
    }
    *value = values_[row];
    return true;
  }
  // Starts loading what Get(row) reads.
  void Prefetch(uint32_t row) const {
    if (row < values_.size()) {
      __builtin_prefetch(&has_[row / 64]);
      __builtin_prefetch(&values_[row]);
    }
  }
  // About how many rows hold a value in `range`: the sorted pairs inside
  // it, less the share writes made stale since the merge, plus the tail's.
  uint64_t Estimate(const Range& range) const {
    auto [begin, end] = Bounds(range);
    double n = double(end - begin);
    if (!sorted_.empty()) {
      n *= 1.0 - std::min(1.0, double(stale_) / double(sorted_.size()));
    }
    for (const Entry& e : tail_) n += range.Contains(e.value) ? 1.0 : 0.0;
    return uint64_t(n);
  }

  // The rows whose value lies in `range`. The ordered index when the range
  // holds few pairs, else one pass over the column.
  Roaring Select(const Range& range) const {
    return ByOrder(range, kOrderedCostPerRow) ? SelectByOrder(range)
                                              : SelectByScan(range);
  }
  // Both paths, for tests: each must give the same rows.
  Roaring SelectByScan(const Range& range) const {
    std::vector<uint32_t> hits;
    VisitByScan(range, [&](uint32_t row) { hits.push_back(row); });
    Roaring out;
    out.addMany(hits.size(), hits.data());  // ascending: the fast path
    return out;
  }
  Roaring SelectByOrder(const Range& range) const {
    auto [begin, end] = Bounds(range);
    std::vector<uint32_t> hits;
    hits.reserve(size_t(end - begin));
    VisitByOrder(range, [&](uint32_t row) { hits.push_back(row); });
    SortRows(&hits);
    hits.erase(std::unique(hits.begin(), hits.end()), hits.end());
    Roaring out;
    out.addMany(hits.size(), hits.data());
    return out;
  }
  // Calls visit(row) for each row whose value lies in `range`, as Select
  // chooses: in value order (a row may come twice) when the range holds
  // few pairs, else ascending from one pass over the column. No sort: for
  // a set that takes the rows in any order (a dense bitmap).
  template <typename Visit>
  void ForEachIn(const Range& range, Visit&& visit) const {
    if (ByOrder(range, kOrderedVisitCostPerRow)) {
      VisitByOrder(range, visit);
    } else {
      VisitByScan(range, visit);
    }
  }

  size_t memory_bytes() const {
    return present_.getSizeInBytes() + stale_rows_.getSizeInBytes() +
           has_.capacity() * sizeof(uint64_t) +
           values_.capacity() * sizeof(T) +
           (sorted_.capacity() + tail_.capacity()) * sizeof(Entry);
  }

 private:
  // Packed: 12 bytes, not 16, per pair (x86 reads the unaligned value at
  // full speed).
  struct __attribute__((packed)) Entry {
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

  // Whether the ordered index reads `range` for less than the column scan,
  // a pair costing `cost_per_pair` rows of the scan.
  bool ByOrder(const Range& range, size_t cost_per_pair) const {
    auto [begin, end] = Bounds(range);
    const size_t in_range = size_t(end - begin) + tail_.size();
    return in_range * cost_per_pair <= values_.size();
  }
  // The rows in `range`, ascending, from one pass over the column.
  template <typename Visit>
  void VisitByScan(const Range& range, Visit&& visit) const {
    for (size_t row = 0; row < values_.size(); ++row) {
      if (((has_[row / 64] >> (row % 64)) & 1) && range.Contains(values_[row])) {
        visit(uint32_t(row));
      }
    }
  }
  // The ordered index's rows in `range`, in value order; a row set to a
  // value, away and back may come twice.
  template <typename Visit>
  void VisitByOrder(const Range& range, Visit&& visit) const {
    auto [begin, end] = Bounds(range);
    // A pair is current if its row still holds this value: true of every
    // merged pair whose row no write touched since the merge, so only the
    // touched rows' pairs (and the tail's) need the check.
    auto current = [&](const Entry& e) {
      return values_[e.row] == e.value && present_.contains(e.row);
    };
    if (stale_rows_.isEmpty()) {
      for (auto it = begin; it != end; ++it) visit(it->row);
    } else {
      for (auto it = begin; it != end; ++it) {
        if (!stale_rows_.contains(it->row) || current(*it)) visit(it->row);
      }
    }
    for (const Entry& e : tail_) {
      if (range.Contains(e.value) && current(e)) visit(e.row);
    }
  }

  void SetHas(uint32_t row, bool has) {
    // Covers every row of values_ (Get and the column scan read the bit of
    // any row below its size), not only the rows set so far.
    const size_t words = std::max<size_t>(row, values_.size()) / 64 + 1;
    if (has_.size() < words) {
      has_.resize(std::max(words, values_.capacity() / 64 + 1));
    }
    const uint64_t bit = uint64_t{1} << (row % 64);
    has_[row / 64] = has ? has_[row / 64] | bit : has_[row / 64] & ~bit;
  }
  void MarkStale(uint32_t row) {
    stale_rows_.add(row);
    if (++stale_ > std::max<size_t>(kMinTail, sorted_.size() / 4)) Merge();
  }
  // Ascending. A radix sort (three 11-bit passes): the rows of a range come
  // in value order, and std::sort of 10,000 of them costs more than
  // scoring them.
  static void SortRows(std::vector<uint32_t>* rows) {
    if (rows->size() < 256) {
      std::sort(rows->begin(), rows->end());
      return;
    }
    std::vector<uint32_t> buffer(rows->size());
    std::vector<uint32_t>* from = rows;
    std::vector<uint32_t>* to = &buffer;
    for (int shift = 0; shift < 33; shift += 11) {
      uint32_t count[2049] = {};
      for (uint32_t r : *from) ++count[((r >> shift) & 2047) + 1];
      for (int b = 0; b < 2048; ++b) count[b + 1] += count[b];
      for (uint32_t r : *from) (*to)[count[(r >> shift) & 2047]++] = r;
      std::swap(from, to);
    }
    if (from != rows) *rows = std::move(*from);
  }
  // A pair read through the ordered index (a random check of the column,
  // then a sort) costs about as much as this many rows of the sequential
  // scan.
  static constexpr size_t kOrderedCostPerRow = 16;
  // A pair visited in value order with no sort after (ForEachIn): a
  // sequential read of the pairs, and the visitor's random write.
  static constexpr size_t kOrderedVisitCostPerRow = 2;

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
    // A bulk load's tail was as large as the column: give it back.
    if (tail_.capacity() > 2 * std::max<size_t>(kMinTail, sorted_.size() / 32)) {
      tail_.shrink_to_fit();
    }
    stale_rows_ = Roaring();
    stale_ = 0;
  }

  Roaring present_;            // rows holding a value
  std::vector<uint64_t> has_;  // the same, a bit per row (for Get)
  // By row. A wide filter tests each scanned candidate's value (Get), at
  // random: huge pages spare those reads their TLB misses.
  HugePageVector<T> values_;
  std::vector<Entry> sorted_;  // by (value, row)
  std::vector<Entry> tail_;    // written since the last merge, unsorted
  Roaring stale_rows_;         // rows changed or cleared since the merge
  size_t stale_ = 0;           // changes and clears since the merge
};

}  // namespace qvdb
