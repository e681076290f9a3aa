// PRIVATE header (index/gpu/): the device side of the GPU index, behind an
// interface with no CUDA types. gpu_backend.cu implements it with CUDA and
// cuBLAS; gpu_backend_stub.cc (builds without CUDA) only reports that there
// is no GPU.
//
// Thread safety: Upload/Append/Tombstone must not race with anything;
// Search may be called from many threads (searches take turns on the
// device: one at a time per backend).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/gpu/gpu_math.h"
#include "index/gpu/gpu_types.h"

namespace qvdb::gpu {

// New codes for the end of one list.
struct ListAppend {
  int list = 0;
  std::vector<int64_t> ids;
  std::vector<uint8_t> codes;
};

class GpuBackend {
 public:
  virtual ~GpuBackend() = default;
  // Replaces the models and every list.
  virtual absl::Status Upload(const GpuModel& model,
                              const GpuLists& lists) = 0;
  // Appends to several lists (one copy each, growing by doubling).
  virtual absl::Status Append(const std::vector<ListAppend>& appends) = 0;
  // Sets the ids of (list, position) slots to -1.
  virtual absl::Status Tombstone(
      const std::vector<std::pair<int, size_t>>& slots) = 0;
  // nq x keep sorted candidates (distances with the queries' constants).
  virtual absl::Status Search(const PreparedQueries& queries, int nprobe,
                              int keep, LutPrecision precision,
                              size_t query_chunk, int64_t* ids,
                              float* distances) = 0;
  // Device memory held for lists and models.
  virtual size_t device_bytes() const = 0;
  virtual size_t list_bytes() const = 0;
};

struct DeviceInfo {
  std::string name;
  double peak_bytes_per_second = 0;
  size_t l2_bytes = 0;
};
absl::StatusOr<DeviceInfo> CudaDeviceInfo(int device);

// OK when device `device` is usable, else Unavailable with the reason.
absl::Status CudaDeviceStatus(int device);
absl::StatusOr<std::unique_ptr<GpuBackend>> CreateCudaBackend(int device);

}  // namespace qvdb::gpu
