// The backend of a build without CUDA (QVDB_WITH_CUDA=OFF or no nvcc): it
// only says so, and the GPU index's callers search on the CPU.
#include "index/gpu/gpu_backend.h"

namespace qvdb::gpu {

absl::Status CudaDeviceStatus(int device) {
  return absl::UnavailableError(
      "this qvdb was built without CUDA (QVDB_WITH_CUDA=OFF or nvcc not "
      "found)");
}

absl::StatusOr<DeviceInfo> CudaDeviceInfo(int device) {
  return CudaDeviceStatus(device);
}

absl::StatusOr<std::unique_ptr<GpuBackend>> CreateCudaBackend(int device) {
  return CudaDeviceStatus(device);
}

}  // namespace qvdb::gpu
