// PRIVATE header: helpers shared by the Collection's files (collection*.cc).
#pragma once

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <utility>

#include "base/status_macros.h"
#include "index/gpu/gpu_index.h"
#include "index/search/id_filter.h"
#include "server/engine/collection.h"
#include "server/engine/engine_validation.h"

namespace qvdb {

using Clock = std::chrono::steady_clock;

inline double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Codes handed to AddEncoded per call while loading.
inline constexpr size_t kLoadChunk = 65536;
// A filtered search's exact strategy reads each passing row's RAM code at
// random: about the cost of this many codes scanned in list order
// (collection_filter.cc).
inline constexpr uint64_t kFilterRowCost = 32;
// Up to live rows / this many passing rows, a filtered search builds their
// dense set (about 2 ns a row, no sort) and the scan tests a bit per
// candidate; above it the scan tests each candidate's column value (a cache
// miss each), which costs less than building a set of most rows. Measured
// on 1M rows (docs/filter.md): 10 % of rows, p50 1.5-1.8 ms tested per
// candidate, 0.9-1.0 ms with the set.
inline constexpr uint64_t kDenseSetRowsDivisor = 4;
// Faiss k-means warns below 39 training points per centroid.
inline constexpr size_t kRowsPerList = 39;

inline std::string FloatBytes(const float* v, size_t dim) {
  return std::string(reinterpret_cast<const char*>(v), dim * sizeof(float));
}

inline std::vector<float> BytesToFloats(std::string_view bytes) {
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

// The same status with `prefix: ` in front of its message.
inline absl::Status WithPrefix(const absl::Status& st,
                               std::string_view prefix) {
  if (st.ok()) return st;
  return absl::Status(st.code(),
                      fmt::format("{}: {}", prefix, std::string(st.message())));
}

inline absl::Status Dropped(std::string_view name) {
  return absl::NotFoundError(
      fmt::format("collection \"{}\" was dropped", name));
}

// Counts the bytes a Get or Search answer holds while it is built, so that
// an answer over Limits::max_response_bytes fails (ResourceExhausted) after
// at most one row more than the limit, not after every row was copied.
class ResponseBudgetCounter {
 public:
  ResponseBudgetCounter(std::string_view collection, std::string_view call,
                        size_t max_bytes)
      : collection_(collection), call_(call), max_bytes_(max_bytes) {}

  // One row of the answer: its id, payload and vector bytes. `item` is the
  // id's or query's position, for the message.
  absl::Status Add(const UserId& id, size_t payload_bytes,
                   size_t vector_bytes, size_t item) {
    constexpr size_t kPerRow = 16;  // framing of a hit or result
    const size_t id_bytes = std::holds_alternative<std::string>(id)
                                ? std::get<std::string>(id).size()
                                : sizeof(uint64_t);
    bytes_ += kPerRow + id_bytes + payload_bytes + vector_bytes;
    if (bytes_ <= max_bytes_) return absl::OkStatus();
    return absl::ResourceExhaustedError(fmt::format(
        "collection \"{}\": the {} answer grew past {} bytes at item {}, "
        "over the response limit of {}; ask for fewer ids, a smaller k or "
        "fewer queries, or leave out payloads or vectors",
        collection_, call_, bytes_, item, max_bytes_));
  }

 private:
  std::string_view collection_;
  std::string_view call_;
  size_t max_bytes_;
  size_t bytes_ = 0;
};

// Rows i of enc listed in `keep`, as a new EncodedVectors of `index`.
inline EncodedVectors SubsetOf(const EncodedVectors& enc,
                               const std::vector<size_t>& keep,
                               const VectorIndex& index) {
  EncodedVectors out;
  out.n = keep.size();
  out.lists.reserve(keep.size());
  // Row i's code_size bytes of `from`, appended to `to` (when from holds any).
  auto copy = [&](const std::vector<uint8_t>& from, size_t code_size,
                  std::vector<uint8_t>* to) {
    if (code_size == 0 || from.empty()) return;
    to->reserve(keep.size() * code_size);
    for (size_t i : keep) {
      to->insert(to->end(), from.begin() + i * code_size,
                 from.begin() + (i + 1) * code_size);
    }
  };
  for (size_t i : keep) out.lists.push_back(enc.lists[i]);
  copy(enc.codes, index.code_size(), &out.codes);
  copy(enc.ram_refine_codes, index.ram_refine_code_size(),
       &out.ram_refine_codes);
  copy(enc.refine_codes, index.refine_code_size(), &out.refine_codes);
  return out;
}

}  // namespace qvdb
