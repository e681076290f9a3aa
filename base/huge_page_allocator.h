// An allocator whose large blocks are backed by 2 MiB pages where the kernel
// allows it (madvise; Debian's default THP mode). For arrays a search reads
// at random by row: the RAM re-ranking codes, the IVF id map, a field's
// column. With 4 KiB pages each of those reads is also a TLB miss (a long
// page walk on a VM); a filtered query reads thousands of rows. Filling
// 128 MiB also takes 64 page faults instead of 32,768.
//
// Blocks under 4 MiB come from std::allocator: too small to gain.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

namespace qvdb {

template <typename T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr size_t kHugePage = size_t{2} << 20;
  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}
  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < 2 * kHugePage) return std::allocator<T>().allocate(n);
    const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* p = std::aligned_alloc(kHugePage, rounded);
    if (p == nullptr) throw std::bad_alloc();
    madvise(p, rounded, MADV_HUGEPAGE);  // a hint: 4 KiB pages otherwise
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) {
    if (n * sizeof(T) < 2 * kHugePage) {
      std::allocator<T>().deallocate(p, n);
    } else {
      std::free(p);
    }
  }
  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const { return true; }
};

// A vector that HugePageAllocator backs.
template <typename T>
using HugePageVector = std::vector<T, HugePageAllocator<T>>;

}  // namespace qvdb
