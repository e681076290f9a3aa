// Top-k selection of (distance, id) pairs, lower distance first.
//
// Candidates go into a buffer of 2k entries only when they beat the current
// k-th best (the threshold); when the buffer fills it is cut back to k with
// nth_element. Most candidates cost one comparison, not a heap push, so
// selection does not dominate a scan's profile. Not thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace qvdb {

class TopK {
 public:
  explicit TopK(int k) : k_(std::max(k, 0)) { buf_.reserve(2 * k_ + 1); }

  // The distance a candidate must beat to be kept.
  float threshold() const { return threshold_; }

  void Push(float distance, int64_t id) {
    if (!(distance < threshold_) || k_ == 0) return;
    buf_.push_back({distance, id});
    if (buf_.size() >= 2 * size_t(k_)) Shrink();
  }

  // Writes the k best, best first; pads with id -1 / +inf.
  void Finish(int64_t* ids, float* distances) {
    std::sort(buf_.begin(), buf_.end());
    if (buf_.size() > size_t(k_)) buf_.resize(k_);
    for (int i = 0; i < k_; ++i) {
      const bool have = i < int(buf_.size());
      ids[i] = have ? buf_[i].id : -1;
      distances[i] = have ? buf_[i].distance
                          : std::numeric_limits<float>::infinity();
    }
  }

 private:
  struct Entry {
    float distance;
    int64_t id;
    // Ties broken by id so results are deterministic.
    bool operator<(const Entry& o) const {
      return distance < o.distance || (distance == o.distance && id < o.id);
    }
  };
  void Shrink() {
    std::nth_element(buf_.begin(), buf_.begin() + (k_ - 1), buf_.end());
    buf_.resize(k_);
    // nth_element leaves the k-th smallest at k-1, nothing larger before it.
    threshold_ = buf_[k_ - 1].distance;
  }

  const int k_;
  float threshold_ = std::numeric_limits<float>::infinity();
  std::vector<Entry> buf_;
};

}  // namespace qvdb
