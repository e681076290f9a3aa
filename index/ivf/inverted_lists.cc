#include "index/ivf/inverted_lists.h"

#include <cassert>
#include <cstring>

#include "index/kernels/pq4_fast_scan.h"

namespace qvdb {

InvertedLists::InvertedLists(size_t nlist, size_t code_size,
                             ListLayout layout, int pq4_m)
    : code_size_(code_size),
      layout_(layout),
      pq4_m_(pq4_m),
      tail_size_(layout == ListLayout::kPq4Blocks
                     ? code_size - Pq4CodeBytes(pq4_m)
                     : 0),
      lists_(nlist) {
  assert(layout != ListLayout::kPq4Blocks ||
         (code_size >= Pq4CodeBytes(pq4_m) && tail_size_ % 4 == 0));
}

bool InvertedLists::Locate(int64_t id, size_t* list, size_t* pos) const {
  if (!Contains(id)) return false;
  const Location* loc = Slot(id);
  *list = loc->list;
  *pos = loc->pos;
  return true;
}

void InvertedLists::Add(int64_t id, int32_t list, const uint8_t* code) {
  assert(id >= 0 && size_t(list) < lists_.size());
  Remove(id);
  CoverId(&where_, &where_base_, id, 1);
  InvertedList& l = lists_[list];
  *Slot(id) = Location{list, uint32_t(l.ids.size())};
  AppendCode(&l, code);
  l.ids.push_back(id);
  ++live_;
}

void InvertedLists::ReserveIds(int64_t first, int64_t last) {
  CoverId(&where_, &where_base_, first, 1);
  CoverId(&where_, &where_base_, last, 1);
}

bool InvertedLists::Remove(int64_t id) {
  if (!Contains(id)) return false;
  Location* loc = Slot(id);
  lists_[loc->list].ids[loc->pos] = -1;
  *loc = Location{};
  --live_;
  return true;
}

void InvertedLists::Compact() {
  std::vector<uint8_t> code(code_size_);
  for (size_t l = 0; l < lists_.size(); ++l) {
    // A list without tombstones keeps its codes and positions.
    const std::vector<int64_t>& ids = lists_[l].ids;
    if (std::find(ids.begin(), ids.end(), int64_t{-1}) == ids.end()) continue;
    InvertedList old = std::move(lists_[l]);
    InvertedList& fresh = lists_[l];
    fresh = InvertedList{};
    for (size_t pos = 0; pos < old.ids.size(); ++pos) {
      const int64_t id = old.ids[pos];
      if (id < 0) continue;
      ReadCode(old, pos, code.data());
      *Slot(id) = Location{int32_t(l), uint32_t(fresh.ids.size())};
      AppendCode(&fresh, code.data());
      fresh.ids.push_back(id);
    }
    fresh.ids.shrink_to_fit();
    fresh.codes.shrink_to_fit();
    fresh.tails.shrink_to_fit();
  }
  // The id map keeps the live range only.
  int64_t first = 0, last = -1;
  if (!LiveIdRange(&first, &last)) {
    HugePageVector<Location>().swap(where_);
    where_base_ = 0;
    return;
  }
  HugePageVector<Location> trimmed(where_.begin() + (first - where_base_),
                                where_.begin() + (last - where_base_ + 1));
  where_.swap(trimmed);
  where_base_ = first;
}

bool InvertedLists::LiveIdRange(int64_t* first, int64_t* last) const {
  size_t lo = 0;
  while (lo < where_.size() && where_[lo].list < 0) ++lo;
  if (lo == where_.size()) return false;
  size_t hi = where_.size() - 1;
  while (where_[hi].list < 0) --hi;
  *first = where_base_ + int64_t(lo);
  *last = where_base_ + int64_t(hi);
  return true;
}

// Called before the id is pushed: list->ids.size() is the code's position.
void InvertedLists::AppendCode(InvertedList* list, const uint8_t* code) {
  if (layout_ == ListLayout::kPq4Blocks) {
    const size_t pos = list->ids.size();
    AppendPq4Codes(code, 1, pq4_m_, pos, &list->codes);
    if (tail_size_ > 0) {
      // A new block's rows of words, then this code's word in each.
      if (pos % kPq4BlockSize == 0) {
        list->tails.resize(list->tails.size() + kPq4BlockSize * tail_size_);
      }
      const uint8_t* tail = code + (code_size_ - tail_size_);
      for (size_t w = 0; w < tail_size_ / 4; ++w) {
        std::memcpy(list->tails.data() + TailOffset(tail_size_, pos, w),
                    tail + 4 * w, 4);
      }
    }
  } else {
    list->codes.insert(list->codes.end(), code, code + code_size_);
  }
}

void InvertedLists::ReadCode(const InvertedList& list, size_t pos,
                             uint8_t* code) const {
  if (layout_ == ListLayout::kPq4Blocks) {
    GetPq4Code(list.codes.data(), pq4_m_, pos, code);
    uint8_t* tail = code + (code_size_ - tail_size_);
    for (size_t w = 0; w < tail_size_ / 4; ++w) {
      std::memcpy(tail + 4 * w,
                  list.tails.data() + TailOffset(tail_size_, pos, w), 4);
    }
  } else {
    std::memcpy(code, list.codes.data() + pos * code_size_, code_size_);
  }
}

void InvertedLists::GetCode(size_t l, size_t pos, uint8_t* code) const {
  ReadCode(lists_[l], pos, code);
}

size_t InvertedLists::memory_bytes() const {
  // Sizes, not capacities: what the vectors hold once growth settles.
  size_t bytes = where_.size() * sizeof(Location);
  for (const InvertedList& l : lists_) {
    bytes += l.ids.size() * sizeof(int64_t) + l.codes.size() + l.tails.size();
  }
  return bytes;
}

}  // namespace qvdb
