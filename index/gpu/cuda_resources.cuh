// PRIVATE to index/gpu/gpu_backend.cu: RAII owners of device memory, pinned
// memory, streams and the cuBLAS handle; every CUDA call checked into an
// absl::Status.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstring>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qvdb::gpu {
// An unnamed namespace in a header: this file is a part of gpu_backend.cu
// (its one translation unit, kept single for build time), never shared.
namespace {

absl::Status CudaError(cudaError_t e, const char* what) {
  return absl::InternalError(std::string("CUDA ") + what + " failed: " +
                             cudaGetErrorName(e) + " (" +
                             cudaGetErrorString(e) + ")");
}

#define QVDB_CUDA(expr, what)                                 \
  do {                                                        \
    const cudaError_t qvdb_cuda_e = (expr);                   \
    if (qvdb_cuda_e != cudaSuccess) return CudaError(qvdb_cuda_e, what); \
  } while (0)

#define QVDB_CUBLAS(expr, what)                                           \
  do {                                                                    \
    const cublasStatus_t qvdb_cublas_s = (expr);                          \
    if (qvdb_cublas_s != CUBLAS_STATUS_SUCCESS) {                         \
      return absl::InternalError(std::string("cuBLAS ") + what +          \
                                 " failed: status " +                     \
                                 std::to_string(int(qvdb_cublas_s)));     \
    }                                                                     \
  } while (0)

// Device memory of n T's (cudaMalloc; never managed memory).
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { Free(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  // At least n elements; the contents are lost when it grows.
  absl::Status Reserve(size_t n) {
    if (n <= n_) return absl::OkStatus();
    Free();
    void* p = nullptr;
    QVDB_CUDA(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T)), "cudaMalloc");
    p_ = static_cast<T*>(p);
    n_ = n;
    return absl::OkStatus();
  }
  absl::Status Upload(const T* host, size_t n) {
    RETURN_IF_ERROR(Reserve(n));
    if (n > 0) {
      QVDB_CUDA(cudaMemcpy(p_, host, n * sizeof(T), cudaMemcpyHostToDevice),
                "cudaMemcpy to the device");
    }
    return absl::OkStatus();
  }
  T* get() const { return p_; }
  size_t capacity() const { return n_; }
  size_t bytes() const { return n_ * sizeof(T); }

 private:
  void Free() {
    if (p_ != nullptr) cudaFree(p_);
    p_ = nullptr;
    n_ = 0;
  }
  T* p_ = nullptr;
  size_t n_ = 0;
};

// Page-locked host memory: asynchronous copies need it to overlap.
template <class T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer() {
    if (p_ != nullptr) cudaFreeHost(p_);
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  absl::Status Reserve(size_t n) {
    if (n <= n_) return absl::OkStatus();
    if (p_ != nullptr) cudaFreeHost(p_);
    p_ = nullptr;
    n_ = 0;
    void* p = nullptr;
    QVDB_CUDA(cudaHostAlloc(&p, std::max<size_t>(n, 1) * sizeof(T),
                            cudaHostAllocDefault),
              "cudaHostAlloc");
    p_ = static_cast<T*>(p);
    n_ = n;
    return absl::OkStatus();
  }
  T* get() const { return p_; }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

class Stream {
 public:
  Stream() = default;
  ~Stream() {
    if (s_ != nullptr) cudaStreamDestroy(s_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  absl::Status Init() {
    QVDB_CUDA(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking),
              "cudaStreamCreate");
    return absl::OkStatus();
  }
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

class CublasHandle {
 public:
  CublasHandle() = default;
  ~CublasHandle() {
    if (h_ != nullptr) cublasDestroy(h_);
  }
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  absl::Status Init() {
    QVDB_CUBLAS(cublasCreate(&h_), "cublasCreate");
    // Plain FP32 (no TF32): coarse distances stay comparable to the CPU's.
    QVDB_CUBLAS(cublasSetMathMode(h_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    return absl::OkStatus();
  }
  cublasHandle_t get() const { return h_; }

 private:
  cublasHandle_t h_ = nullptr;
};


}  // namespace
}  // namespace qvdb::gpu
