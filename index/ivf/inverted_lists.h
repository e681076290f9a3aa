// PRIVATE header (index/ internal): the inverted lists of an IvfIndex.
//
// Each list holds the ids and codes of the vectors assigned to it, in the
// order they were added; a removed vector's id becomes -1 (a tombstone the
// scanners skip) until Compact() drops it. Codes are stored either one after
// the other, or (ListLayout::kPq4Blocks) in the 32-code interleaved blocks
// the 4-bit fast-scan kernels read (pq4_fast_scan.h).
//
// Ids are dense internal ids (the collection engine hands them out from 0),
// so the id -> position map is a plain vector.
//
// Thread safety: none; IvfIndex guards it with its shared mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qvdb {

enum class ListLayout { kPacked, kPq4Blocks };

struct InvertedList {
  std::vector<int64_t> ids;    // -1: removed
  std::vector<uint8_t> codes;  // packed codes, or pq4 blocks
};

class InvertedLists {
 public:
  // pq4_m: sub-quantizers when the layout is kPq4Blocks.
  InvertedLists(size_t nlist, size_t code_size, ListLayout layout,
                int pq4_m = 0);

  size_t nlist() const { return lists_.size(); }
  size_t code_size() const { return code_size_; }
  ListLayout layout() const { return layout_; }
  int pq4_m() const { return pq4_m_; }
  const InvertedList& list(size_t l) const { return lists_[l]; }
  // Live (not removed) vectors.
  size_t size() const { return live_; }
  bool Contains(int64_t id) const;
  // Where a live id's code is; false when the id is not present.
  bool Locate(int64_t id, size_t* list, size_t* pos) const;

  // Appends a code; an id already present is removed first (upsert).
  void Add(int64_t id, int32_t list, const uint8_t* code);
  // Returns false when the id is not present.
  bool Remove(int64_t id);
  // Drops tombstones, keeping the order of the live codes.
  void Compact();
  // Copies the code at position pos of list l (for compaction and tests).
  void GetCode(size_t l, size_t pos, uint8_t* code) const;

  size_t memory_bytes() const;

 private:
  struct Location {
    int32_t list = -1;
    uint32_t pos = 0;
  };
  void AppendCode(InvertedList* list, const uint8_t* code);
  void ReadCode(const InvertedList& list, size_t pos, uint8_t* code) const;

  const size_t code_size_;
  const ListLayout layout_;
  const int pq4_m_;
  std::vector<InvertedList> lists_;
  std::vector<Location> where_;  // by id
  size_t live_ = 0;
};

}  // namespace qvdb
