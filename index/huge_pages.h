// Asks the kernel to back a large buffer with transparent huge pages.
//
// Random reads over hundreds of megabytes (refine codes fetched by candidate
// id) miss the TLB on nearly every access with 4 KiB pages; 2 MiB pages
// remove most of those page walks. Linux only, and only a hint: where THP is
// off (or not Linux) this does nothing, and results never depend on it.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace qvdb {

inline void AdviseHugePages(void* data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  // Only whole 2 MiB pages inside the buffer can be huge.
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHuge - 1) &
                          ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) &
                        ~(kHuge - 1);
  if (end > begin) {
    madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  }
#else
  (void)data;
  (void)bytes;
#endif
}

}  // namespace qvdb
