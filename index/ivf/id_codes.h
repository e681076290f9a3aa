// PRIVATE header of index/ivf/: fixed-size codes addressed by internal id,
// the re-ranking codes an IvfIndex keeps in RAM (one IdCodes per stage).
//
// Codes are held from the lowest id put on, so a collection whose early
// rows were deleted does not pay for them after Trim. Not thread-safe:
// IvfIndex's lock guards it.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "base/huge_page_allocator.h"
#include "index/ivf/inverted_lists.h"

namespace qvdb {

class IdCodes {
 public:
  explicit IdCodes(size_t code_size) : code_size_(code_size) {}

  size_t code_size() const { return code_size_; }
  bool empty() const { return codes_.empty(); }
  // Bytes of the codes held (a vector's unused capacity is not counted:
  // its pages are never touched, so never resident).
  size_t memory_bytes() const { return codes_.size(); }

  // Stores the code of id (replacing any), growing to cover id.
  void Put(int64_t id, const uint8_t* code) {
    CoverId(&codes_, &base_, id, code_size_);
    std::memcpy(&codes_[Offset(id)], code, code_size_);
  }
  // Sizes the store for ids [first, last] at once.
  void Reserve(int64_t first, int64_t last) {
    if (code_size_ == 0) return;
    CoverId(&codes_, &base_, first, code_size_);
    CoverId(&codes_, &base_, last, code_size_);
  }
  // The code of id, or nullptr when none was put (ids outside the range
  // held). An id inside the range that was never put reads as zeros, so
  // callers only ask for ids their lists hold.
  const uint8_t* Get(int64_t id) const {
    if (id < base_ || Offset(id) + code_size_ > codes_.size()) return nullptr;
    return &codes_[Offset(id)];
  }
  void Prefetch(int64_t id) const {
    const uint8_t* p = Get(id);
    if (p == nullptr) return;
    for (size_t b = 0; b < code_size_; b += 64) __builtin_prefetch(p + b);
  }
  // Keeps the codes of ids [first, last] only (none when first > last).
  void Trim(int64_t first, int64_t last) {
    if (codes_.empty()) return;
    const int64_t held = int64_t(codes_.size() / code_size_);
    first = std::max(first, base_);
    last = std::min(last, base_ + held - 1);
    // Already exactly [first, last] (a load that reserved the live range):
    // copying would touch every page again for nothing.
    if (first == base_ && last == base_ + held - 1 &&
        codes_.capacity() == codes_.size()) {
      return;
    }
    Codes trimmed;
    if (first <= last) {
      trimmed.assign(codes_.begin() + Offset(first),
                     codes_.begin() + Offset(last) + code_size_);
    }
    codes_.swap(trimmed);
    base_ = first <= last ? first : 0;
  }
  void Clear() {
    Codes().swap(codes_);
    base_ = 0;
  }

 private:
  size_t Offset(int64_t id) const { return size_t(id - base_) * code_size_; }

  // Re-ranking reads a few hundred random codes a query (and a filtered
  // search thousands): 2 MiB pages spare those reads their TLB misses.
  using Codes = HugePageVector<uint8_t>;
  size_t code_size_;
  Codes codes_;
  int64_t base_ = 0;
};

}  // namespace qvdb
