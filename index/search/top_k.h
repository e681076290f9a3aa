// Top-k selection of (distance, id) pairs, lower distance first, ties broken
// by lower id.
//
// The result is exactly the k smallest pairs in that order, whatever order
// the candidates arrive in (a search that scans lists in another order, or
// one query alone instead of in a batch, returns the same ids).
//
// Until k candidates are held every one is kept; then a candidate goes into a
// buffer of 2k entries only when it beats the current k-th best (the
// threshold), and when the buffer fills it is cut back to k by a selection.
// Most candidates cost one float comparison, not a heap push, so selection
// does not dominate a scan's profile. Each pair is held as one 128-bit key
// ordered like the pair, so the selection compares without branches.
// NaN and +inf distances are never kept. Not thread-safe.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <vector>

namespace qvdb {

class TopK {
 public:
  explicit TopK(int k = 0) { Reset(k); }

  // Empties the selection for a new k, keeping the buffer's memory.
  void Reset(int k) {
    k_ = std::max(k, 0);
    buf_.clear();
    buf_.reserve(kCapacityFactor * size_t(k_) + 1);
    // k = 0 keeps nothing: no distance is <= -inf.
    threshold_ = k_ > 0 ? std::numeric_limits<float>::infinity()
                        : -std::numeric_limits<float>::infinity();
    // (+inf, smallest id): +inf itself is never kept; nothing is below 0.
    threshold_key_ = k_ > 0 ? Key(std::numeric_limits<float>::infinity(),
                                  std::numeric_limits<int64_t>::min())
                            : 0;
  }

  int k() const { return k_; }
  // Candidates held (more than k between cuts).
  int size() const { return int(buf_.size()); }
  // True once k candidates are held: the threshold is then finite.
  bool full() const { return buf_.size() >= size_t(k_); }
  // A candidate with a larger distance is not kept (one with an equal
  // distance only if its id is lower than the k-th's). +inf until k are held.
  float threshold() const { return threshold_; }

  void Push(float distance, int64_t id) {
    // One float comparison rejects most candidates (and NaN).
    if (!(distance <= threshold_)) return;
    const uint128 key = Key(distance, id);
    if (!(key < threshold_key_)) return;
    buf_.push_back(key);
    if (buf_.size() == size_t(k_)) {
      // Full for the first time: the worst held is the threshold.
      SetThreshold(*std::max_element(buf_.begin(), buf_.end()));
    } else if (buf_.size() >= kCapacityFactor * size_t(k_)) {
      Shrink();
    }
  }

  // Writes the k best, best first; pads with id -1 / +inf.
  void Finish(int64_t* ids, float* distances) {
    std::sort(buf_.begin(), buf_.end());
    if (buf_.size() > size_t(k_)) buf_.resize(k_);
    for (int i = 0; i < k_; ++i) {
      const bool have = i < int(buf_.size());
      ids[i] = have ? IdOf(buf_[i]) : -1;
      distances[i] = have ? DistanceOf(buf_[i])
                          : std::numeric_limits<float>::infinity();
    }
  }

  // Writes the (up to k) best in no particular order and returns how many:
  // for callers that re-score them anyway. Cheaper than Finish (no sort).
  // The selection stays usable: more candidates may be pushed after.
  int TakeUnordered(int64_t* ids, float* distances) {
    if (buf_.size() > size_t(k_)) Shrink();
    for (size_t i = 0; i < buf_.size(); ++i) {
      ids[i] = IdOf(buf_[i]);
      distances[i] = DistanceOf(buf_[i]);
    }
    return int(buf_.size());
  }

 private:
  using uint128 = unsigned __int128;
  static constexpr size_t kCapacityFactor = 2;

  // High 64 bits: the distance's bits mapped so that unsigned order is float
  // order (-0 is made +0 first); low 64 bits: the id with its sign flipped.
  static uint128 Key(float distance, int64_t id) {
    uint32_t bits = std::bit_cast<uint32_t>(distance + 0.0f);
    bits = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
    return (uint128(bits) << 64) | (uint64_t(id) ^ (uint64_t{1} << 63));
  }
  static float DistanceOf(uint128 key) {
    uint32_t bits = uint32_t(key >> 64);
    bits = (bits & 0x80000000u) ? (bits & 0x7fffffffu) : ~bits;
    return std::bit_cast<float>(bits);
  }
  static int64_t IdOf(uint128 key) {
    return int64_t(uint64_t(key) ^ (uint64_t{1} << 63));
  }

  void SetThreshold(uint128 key) {
    threshold_key_ = key;
    threshold_ = DistanceOf(key);
  }

  // Cuts the buffer to the k smallest; the k-th becomes the threshold.
  void Shrink() {
    SelectKth(buf_.data(), buf_.size(), size_t(k_) - 1);
    buf_.resize(k_);
    SetThreshold(buf_[k_ - 1]);
  }

  // Quickselect: afterwards a[kth] holds the kth smallest, nothing larger
  // before it and nothing smaller after it. Partitions are branch-free (each
  // key is written to both sides, and one side's count advances) and never
  // read a slot they wrote, so random data costs neither mispredicted
  // branches nor store-forwarding stalls.
  void SelectKth(uint128* a, size_t n, size_t kth) {
    if (tmp_.size() < n) tmp_.resize(n);
    uint128* high = tmp_.data();
    size_t lo = 0, hi = n;
    while (hi - lo > 16) {
      // Median of three as the pivot, taken out of the range.
      const size_t mid = lo + (hi - lo) / 2;
      if (a[mid] < a[lo]) std::swap(a[mid], a[lo]);
      if (a[hi - 1] < a[mid]) std::swap(a[hi - 1], a[mid]);
      if (a[mid] < a[lo]) std::swap(a[mid], a[lo]);
      std::swap(a[mid], a[hi - 1]);
      const uint128 pivot = a[hi - 1];
      // Keys below the pivot move down in place (to slots already read),
      // the others go to `high`.
      size_t nlow = 0, nhigh = 0;
      for (size_t i = lo; i < hi - 1; ++i) {
        const uint128 x = a[i];
        const bool below = x < pivot;
        a[lo + nlow] = x;
        high[nhigh] = x;
        nlow += below;
        nhigh += !below;
      }
      const size_t j = lo + nlow;
      a[j] = pivot;
      std::copy(high, high + nhigh, a + j + 1);
      if (kth == j) return;
      if (kth < j) {
        hi = j;
      } else {
        lo = j + 1;
      }
    }
    // Insertion sort of the last few.
    for (size_t i = lo + 1; i < hi; ++i) {
      const uint128 x = a[i];
      size_t j = i;
      for (; j > lo && x < a[j - 1]; --j) a[j] = a[j - 1];
      a[j] = x;
    }
  }

  int k_ = 0;
  float threshold_ = std::numeric_limits<float>::infinity();
  uint128 threshold_key_ = 0;
  std::vector<uint128> buf_;
  std::vector<uint128> tmp_;  // SelectKth's upper side
};

}  // namespace qvdb
