// Test support for storage/ tests: a temporary directory removed at the end,
// and small builders of rows. Not part of qvdb_storage.
#pragma once

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/storage.h"

#define QVDB_TEST_CONCAT_INNER(a, b) a##b
#define QVDB_TEST_CONCAT(a, b) QVDB_TEST_CONCAT_INNER(a, b)

// ASSERT_OK(status or statusor): fails the test with the status message.
#define ASSERT_OK(expr)                                       \
  do {                                                        \
    const absl::Status qvdb_test_status_ =                    \
        ::qvdb::storage_testing::ToStatus(expr);              \
    ASSERT_TRUE(qvdb_test_status_.ok()) << qvdb_test_status_; \
  } while (0)
#define EXPECT_OK(expr)                                       \
  do {                                                        \
    const absl::Status qvdb_test_status_ =                    \
        ::qvdb::storage_testing::ToStatus(expr);              \
    EXPECT_TRUE(qvdb_test_status_.ok()) << qvdb_test_status_; \
  } while (0)
// ASSERT_OK_AND_ASSIGN(lhs, statusor): asserts OK and moves the value.
#define ASSERT_OK_AND_ASSIGN(lhs, expr)                                      \
  QVDB_ASSERT_OK_AND_ASSIGN_IMPL(QVDB_TEST_CONCAT(statusor_, __LINE__), lhs, \
                                 expr)
#define QVDB_ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  ASSERT_TRUE(tmp.ok()) << tmp.status();               \
  lhs = std::move(tmp).value()

namespace qvdb::storage_testing {

inline absl::Status ToStatus(const absl::Status& s) { return s; }
template <typename T>
absl::Status ToStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::path(::testing::TempDir()) / "qvdb_storage_XXXXXX")
            .string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed for " << tmpl;
    }
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // A path inside the temporary directory (not created).
  std::string Sub(std::string_view name) const {
    return (std::filesystem::path(path_) / std::string(name)).string();
  }

 private:
  std::string path_;
};

// The bytes of a float vector whose values derive from `seed`.
inline std::string VectorBytes(uint64_t seed, int dim = 8) {
  std::vector<float> v(dim);
  for (int i = 0; i < dim; ++i) v[i] = static_cast<float>(seed * 31 + i);
  return std::string(reinterpret_cast<const char*>(v.data()),
                     v.size() * sizeof(float));
}

inline StorageOptions CreateOptions() {
  StorageOptions o;
  o.create_if_missing = true;
  return o;
}

inline CollectionConfig Config(std::string name, uint32_t dim = 8) {
  return CollectionConfig{std::move(name), dim, Metric::kL2, "IVF4,PQ2x8"};
}

}  // namespace qvdb::storage_testing
