// Which ids a search may return. Filters are applied inside the scan, before
// a candidate reaches top-k selection, so a selective filter still returns k
// results when k allowed ids exist in the probed lists.
#pragma once

#include <cstdint>
#include <unordered_set>
#include <vector>

namespace qvdb {

class IdFilter {
 public:
  virtual ~IdFilter() = default;
  virtual bool Contains(int64_t id) const = 0;
};

// Dense ids 0..n-1: one bit each. Thread-compatible (const after building).
class BitmapFilter final : public IdFilter {
 public:
  BitmapFilter() = default;
  explicit BitmapFilter(size_t n) : bits_((n + 63) / 64) {}
  void Set(int64_t id) {
    if (id < 0) return;
    const size_t w = size_t(id) >> 6;
    if (w >= bits_.size()) bits_.resize(w + 1);
    bits_[w] |= uint64_t{1} << (id & 63);
  }
  void Clear(int64_t id) {
    const size_t w = size_t(id) >> 6;
    if (id >= 0 && w < bits_.size()) bits_[w] &= ~(uint64_t{1} << (id & 63));
  }
  bool Contains(int64_t id) const override {
    const size_t w = size_t(id) >> 6;
    return id >= 0 && w < bits_.size() && (bits_[w] >> (id & 63)) & 1;
  }

 private:
  std::vector<uint64_t> bits_;
};

// Sparse ids of any value.
class SetFilter final : public IdFilter {
 public:
  SetFilter() = default;
  explicit SetFilter(std::unordered_set<int64_t> ids) : ids_(std::move(ids)) {}
  void Insert(int64_t id) { ids_.insert(id); }
  bool Contains(int64_t id) const override { return ids_.count(id) != 0; }

 private:
  std::unordered_set<int64_t> ids_;
};

}  // namespace qvdb
