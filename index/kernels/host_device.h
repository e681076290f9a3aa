// QVDB_HD marks arithmetic shared by CPU code and CUDA kernels: it expands to
// `__host__ __device__` under nvcc and to nothing elsewhere, so CPU tests run
// exactly the code the GPU runs (STYLE.md §6).
#pragma once

#if defined(__CUDACC__)
#define QVDB_HD __host__ __device__ inline
#else
#define QVDB_HD inline
#endif
