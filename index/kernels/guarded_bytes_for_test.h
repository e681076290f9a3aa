// Test-only helper of index/kernels/ tests: bytes that end exactly at an
// inaccessible page, so that a kernel reading past the last code crashes the
// test instead of passing.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace qvdb::testing {

class GuardedBytes {
 public:
  explicit GuardedBytes(size_t size) : size_(size) {
    page_ = size_t(sysconf(_SC_PAGESIZE));
    const size_t data_pages = (size + page_ - 1) / page_;
    map_bytes_ = (data_pages + 1) * page_;
    void* map = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(map, MAP_FAILED);
    map_ = static_cast<uint8_t*>(map);
    EXPECT_EQ(mprotect(map_ + data_pages * page_, page_, PROT_NONE), 0);
    data_ = map_ + data_pages * page_ - size;
  }
  ~GuardedBytes() { munmap(map_, map_bytes_); }
  GuardedBytes(const GuardedBytes&) = delete;
  GuardedBytes& operator=(const GuardedBytes&) = delete;

  uint8_t* data() { return data_; }
  size_t size() const { return size_; }

 private:
  size_t size_, page_ = 0, map_bytes_ = 0;
  uint8_t* map_ = nullptr;
  uint8_t* data_ = nullptr;
};

}  // namespace qvdb::testing
