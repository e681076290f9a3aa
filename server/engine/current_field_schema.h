// PRIVATE header of server/engine/: a collection's declared fields, which
// AddField may extend while searches and writes read them.
//
// Fields are only ever appended (a field keeps its number for the life of
// the collection), and every schema in force once is kept until the
// collection is destroyed (at most FieldSchema::kMaxFields + 1 of them), so
// a reference to the schema read at any moment stays valid and a filter
// parsed against it stays valid against every later one.
//
// Thread safety: get() (and the conversions) from any thread, lock free;
// Set() only with the collection's write lock and field_mu_ held, so two
// Sets never race and writers see a stable schema for a whole write.
#pragma once

#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "index/filter/filter_expr.h"

namespace qvdb {

class CurrentFieldSchema {
 public:
  explicit CurrentFieldSchema(FieldSchema initial) {
    versions_.push_back(std::make_unique<const FieldSchema>(std::move(initial)));
    current_.store(versions_.back().get(), std::memory_order_release);
  }
  CurrentFieldSchema(const CurrentFieldSchema&) = delete;
  CurrentFieldSchema& operator=(const CurrentFieldSchema&) = delete;

  // The schema in force now; valid as long as the collection.
  const FieldSchema& get() const {
    return *current_.load(std::memory_order_acquire);
  }
  operator const FieldSchema&() const { return get(); }  // NOLINT: a view
  bool empty() const { return get().empty(); }
  const std::vector<FieldSpec>& fields() const { return get().fields(); }

  // Puts `next` (the current fields plus appended ones) in force.
  void Set(FieldSchema next) {
    versions_.push_back(std::make_unique<const FieldSchema>(std::move(next)));
    current_.store(versions_.back().get(), std::memory_order_release);
  }

 private:
  // Written only by Set (serialised by the collection's locks); read only
  // through current_.
  std::vector<std::unique_ptr<const FieldSchema>> versions_;
  std::atomic<const FieldSchema*> current_{nullptr};
};

}  // namespace qvdb
