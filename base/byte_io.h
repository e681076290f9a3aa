// Little-endian byte writer and bounds-checked reader for serialized models.
// The reader never reads past its input: every Read* returns an error on
// truncated bytes instead, so a corrupt model is reported, not crashed on.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include <fmt/format.h>

namespace qvdb {

class ByteWriter {
 public:
  template <typename T>
  void Put(T value) {
    static_assert(std::is_trivially_copyable_v<T>);
    const char* p = reinterpret_cast<const char*>(&value);
    out_.append(p, sizeof(T));
  }
  void PutString(std::string_view s) {
    Put<uint64_t>(s.size());
    out_.append(s.data(), s.size());
  }
  template <typename T>
  void PutArray(const std::vector<T>& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    Put<uint64_t>(v.size());
    out_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }
  const std::string& bytes() const { return out_; }
  std::string Release() { return std::move(out_); }

 private:
  std::string out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}

  template <typename T>
  absl::Status Get(T* value) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (in_.size() < sizeof(T)) return Truncated(sizeof(T));
    std::memcpy(value, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return absl::OkStatus();
  }
  absl::Status GetString(std::string* s) {
    uint64_t n = 0;
    if (auto st = Get(&n); !st.ok()) return st;
    if (in_.size() < n) return Truncated(n);
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return absl::OkStatus();
  }
  // Reads an array written by PutArray; `expected` (if not SIZE_MAX) is the
  // element count the caller's shape implies, checked before allocating.
  template <typename T>
  absl::Status GetArray(std::vector<T>* v, size_t expected = SIZE_MAX) {
    uint64_t n = 0;
    if (auto st = Get(&n); !st.ok()) return st;
    if (expected != SIZE_MAX && n != expected) {
      return absl::DataLossError(fmt::format(
          "model array has {} elements, expected {}", n, expected));
    }
    if (n > in_.size() / sizeof(T)) return Truncated(n * sizeof(T));
    v->resize(n);
    // An empty vector's data() may be null, and memcpy from or to null is
    // undefined even for 0 bytes (UBSan, fuzz/ivf_model_fuzzer).
    if (n > 0) std::memcpy(v->data(), in_.data(), n * sizeof(T));
    in_.remove_prefix(n * sizeof(T));
    return absl::OkStatus();
  }
  size_t remaining() const { return in_.size(); }

 private:
  absl::Status Truncated(size_t wanted) const {
    return absl::DataLossError(fmt::format(
        "model bytes are truncated: wanted {} more bytes, {} left", wanted,
        in_.size()));
  }
  std::string_view in_;
};

}  // namespace qvdb
