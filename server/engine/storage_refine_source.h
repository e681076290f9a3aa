// PRIVATE header of server/.
//
// StorageRefineSource: the refine codes of a Refine(Flat) index read from
// storage instead of RAM. A Flat refine code is the float32 vector itself
// (unit-normalised for cosine), which storage already keeps for every row,
// so the index holds only its coarse codes in RAM and re-ranks k *
// refine_factor candidates with one storage read each (the "bi-granular"
// layout: light codes in RAM, heavy ones on disk).
//
// Thread safety: Fetch may be called from many search threads at once
// (Storage reads are thread-safe); the object is immutable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "index/metric.h"
#include "index/vector_index.h"
#include "storage/storage.h"

namespace qvdb {

class StorageRefineSource final : public RefineCodeSource {
 public:
  // `storage` must outlive this object.
  // collection_id: CollectionRecord::id, so that a collection dropped and
  // created again under the same name is not read.
  StorageRefineSource(const Storage* storage, std::string collection,
                      uint32_t collection_id, int dim,
                      Metric metric);

  // A row deleted since the candidate was found (or unreadable) is reported
  // not found, and the index drops it.
  void Fetch(const int64_t* ids, size_t n, uint8_t* out,
             std::vector<bool>* found) const override;

 private:
  const Storage* const storage_;
  const std::string collection_;
  const uint32_t collection_id_;
  const int dim_;
  const Metric metric_;
};

}  // namespace qvdb
