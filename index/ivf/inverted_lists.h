// PRIVATE header (index/ internal): the inverted lists of an IvfIndex.
//
// Each list holds the ids and codes of the vectors assigned to it, in the
// order they were added; a removed vector's id becomes -1 (a tombstone the
// scanners skip) until Compact() drops it. Codes are stored either one after
// the other, or (ListLayout::kPq4Blocks) in the 32-code interleaved blocks
// the 4-bit fast-scan kernels read (pq4_fast_scan.h). In blocks, a code
// longer than its 4-bit part (Pq4CodeBytes(pq4_m) bytes: a 1-bit RaBitQ
// code's sign plane) keeps the rest, 32-bit words (its factors), in the
// list's `tails`, a block's words side by side (TailOffset); GetCode joins
// them again.
//
// Ids are internal ids the collection engine hands out in increasing order
// and never reuses, so the id -> position map is a plain vector over the
// ids from the lowest live one up (not from 0: under a rolling window of
// deletes and inserts it would grow forever); Compact() trims it to the
// live range.
//
// Thread safety: none; IvfIndex guards it with its shared mutex.
#pragma once

#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "base/huge_page_allocator.h"
#include "index/kernels/pq4_fast_scan.h"

namespace qvdb {

enum class ListLayout { kPacked, kPq4Blocks };

// Makes `v`, which holds `stride` elements per id for the ids from *base
// on, cover `id`: grows at the end, or at the front (with as much room
// again below, so that ids arriving in decreasing order cost amortised
// O(1)). An empty `v` starts at `id`.
template <typename V>
void CoverId(V* v, int64_t* base, int64_t id, size_t stride) {
  if (v->empty()) *base = id;
  if (id < *base) {
    const int64_t held = int64_t(v->size() / stride);
    const int64_t new_base = id - std::min<int64_t>(id, held);
    v->insert(v->begin(), size_t(*base - new_base) * stride,
              typename V::value_type{});
    *base = new_base;
  }
  const size_t need = size_t(id - *base + 1) * stride;
  if (v->size() < need) v->resize(need);
}

struct InvertedList {
  std::vector<int64_t> ids;    // -1: removed
  std::vector<uint8_t> codes;  // packed codes, or pq4 blocks
  // pq4 blocks only: for each block of 32 codes, one row of 32 words per
  // 4 bytes of a code's tail, row w holding word w of each code, so that a
  // scan reads one factor of a block's codes as one array.
  std::vector<uint8_t> tails;
};

// Where word w of the tail of the code at position pos lies in `tails`
// (tail_size bytes a code).
inline size_t TailOffset(size_t tail_size, size_t pos, size_t w) {
  constexpr size_t kBlock = kPq4BlockSize;
  return ((pos / kBlock) * (tail_size / 4) + w) * kBlock * 4 +
         (pos % kBlock) * 4;
}

class InvertedLists {
 public:
  // pq4_m: sub-quantizers when the layout is kPq4Blocks; code_size >=
  // Pq4CodeBytes(pq4_m) then, the difference a multiple of 4 bytes.
  InvertedLists(size_t nlist, size_t code_size, ListLayout layout,
                int pq4_m = 0);

  size_t nlist() const { return lists_.size(); }
  size_t code_size() const { return code_size_; }
  ListLayout layout() const { return layout_; }
  int pq4_m() const { return pq4_m_; }
  const InvertedList& list(size_t l) const { return lists_[l]; }
  // Live (not removed) vectors.
  size_t size() const { return live_; }
  bool Contains(int64_t id) const {
    const Location* loc = Slot(id);
    return loc != nullptr && loc->list >= 0;
  }
  // Starts loading Contains(id)'s entry into the cache (a loop over
  // scattered ids asks a few ahead).
  void Prefetch(int64_t id) const {
    if (const Location* loc = Slot(id)) __builtin_prefetch(loc);
  }
  // Where a live id's code is; false when the id is not present.
  bool Locate(int64_t id, size_t* list, size_t* pos) const;

  // Appends a code; an id already present is removed first (upsert).
  void Add(int64_t id, int32_t list, const uint8_t* code);
  // Returns false when the id is not present.
  bool Remove(int64_t id);
  // Sizes the id map for ids [first, last] at once.
  void ReserveIds(int64_t first, int64_t last);
  // Drops tombstones, keeping the order of the live codes, and trims the
  // id map to the live ids.
  void Compact();
  // The lowest and highest live ids; false when there are none.
  bool LiveIdRange(int64_t* first, int64_t* last) const;
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
  const size_t tail_size_;  // bytes of a code kept beside the blocks
  std::vector<InvertedList> lists_;
  const Location* Slot(int64_t id) const {
    if (id < where_base_ || size_t(id - where_base_) >= where_.size()) {
      return nullptr;
    }
    return &where_[size_t(id - where_base_)];
  }
  Location* Slot(int64_t id) {
    return const_cast<Location*>(std::as_const(*this).Slot(id));
  }

  // By id - where_base_. A filtered search reads thousands of entries at
  // random (IvfIndex::SearchAmong): huge pages spare them a TLB miss each.
  HugePageVector<Location> where_;
  int64_t where_base_ = 0;
  size_t live_ = 0;
};

}  // namespace qvdb
