// The nprobe nearest lists of a query, shared by the CPU index's coarse step
// and the GPU kernels (hence QVDB_HD and no standard library).
#pragma once

#include <cstdint>

#include "index/kernels/host_device.h"

namespace qvdb {

// Keeps the nprobe smallest (distance, list) pairs in lists/dists,
// ascending, ties to the lower list; call with l increasing. *have counts
// the pairs held (start at 0). NaN distances are never kept once full.
QVDB_HD void InsertNearest(float d, int32_t l, int nprobe, int* have,
                                  int32_t* lists, float* dists) {
  if (*have == nprobe && !(d < dists[*have - 1])) return;
  int pos = *have < nprobe ? (*have)++ : nprobe - 1;
  while (pos > 0 && d < dists[pos - 1]) {
    dists[pos] = dists[pos - 1];
    lists[pos] = lists[pos - 1];
    --pos;
  }
  dists[pos] = d;
  lists[pos] = l;
}

}  // namespace qvdb
