// Which ids a search may return. Filters are applied inside the scan, before
// a candidate reaches top-k selection, so a selective filter still returns k
// results when k allowed ids exist in the probed lists.
#pragma once

#include <cstdint>
#include <unordered_set>
#include <utility>

namespace qvdb {

class IdFilter {
 public:
  virtual ~IdFilter() = default;
  virtual bool Contains(int64_t id) const = 0;
  // Starts loading what Contains(id) reads. A scan calls it for a batch of
  // candidates before testing them, so that the tests' cache misses (a
  // column value a row, for a wide filter) overlap instead of queueing.
  virtual void Prefetch(int64_t /*id*/) const {}
};

// Sparse ids of any value. (A filter's passing rows are a RowSet,
// index/filter/row_set.h: dense bits or a Roaring.)
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
