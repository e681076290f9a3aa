// The CUDA side of the GPU index (gpu_backend.h). Kernels are thin: their
// arithmetic is gpu_math.h's QVDB_HD functions, which gpu_sim.cc replays on
// the CPU over a simulated grid. Every CUDA and cuBLAS call is checked and
// turned into an absl::Status; device memory, pinned memory, streams and
// the cuBLAS handle are RAII-owned.
//
// Search of a chunk of queries, on one of two streams (chunks alternate, so
// one chunk's copies overlap the other's kernels):
//   1. copy the prepared queries in (pinned staging buffers);
//   2. coarse step: cuBLAS SGEMM of queries x centroids, then one thread per
//      query keeps its nprobe nearest lists (InsertNearest);
//   3. scan: one block of kBlockThreads per query walks its lists; for PQ it
//      first builds the (query, list) table in shared memory in the chosen
//      precision; each thread keeps a sorted k-buffer (KBufferInsert), the
//      warps merge their lanes' buffers with shuffles and warp 0 merges the
//      warps' lists, so only the keep best per query leave the chip;
//   4. copy the candidates out.
#include <cuda_runtime.h>
#include <cublas_v2.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "index/gpu/gpu_backend.h"
#include "index/gpu/gpu_math.h"
#include "base/status_macros.h"
#include "index/gpu/cuda_resources.cuh"
#include "index/gpu/scan_kernels.cuh"

namespace qvdb::gpu {
namespace {

// ---- the backend ----

struct DeviceList {
  DeviceBuffer<int64_t> ids;
  DeviceBuffer<uint8_t> codes;
  size_t size = 0;
};

// Per-stream buffers of one chunk in flight.
struct ChunkScratch {
  Stream stream;
  PinnedBuffer<float> in_work, in_scan, in_const, in_rbq_f;
  PinnedBuffer<uint8_t> in_rbq_codes;
  PinnedBuffer<int64_t> out_ids;
  PinnedBuffer<float> out_dist;
  DeviceBuffer<float> work, scan, constant, q_norms, dots, probe_dists;
  DeviceBuffer<int> probe_lists;
  DeviceBuffer<uint8_t> rbq_codes;
  DeviceBuffer<float> rbq_qscales, rbq_norms;
  DeviceBuffer<int64_t> ids;
  DeviceBuffer<float> dist;
  // The chunk whose results wait in out_* (copied out before reuse).
  size_t pending_q0 = 0, pending_n = 0;
  bool pending = false;
};

class CudaBackend final : public GpuBackend {
 public:
  explicit CudaBackend(int device) : device_(device) {}

  absl::Status Init() {
    QVDB_CUDA(cudaSetDevice(device_), "cudaSetDevice");
    RETURN_IF_ERROR(cublas_.Init());
    for (ChunkScratch& s : scratch_) RETURN_IF_ERROR(s.stream.Init());
    int optin = 0;
    QVDB_CUDA(cudaDeviceGetAttribute(
                  &optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device_),
              "cudaDeviceGetAttribute");
    max_shared_ = size_t(optin);
    return absl::OkStatus();
  }

  absl::Status Upload(const GpuModel& model,
                      const GpuLists& lists) override {
    std::lock_guard lock(mu_);
    QVDB_CUDA(cudaSetDevice(device_), "cudaSetDevice");
    model_ = model;
    RETURN_IF_ERROR(centroids_.Upload(model.centroids.data(),
                                      model.centroids.size()));
    RETURN_IF_ERROR(centroid_norms_.Upload(model.centroid_norms.data(),
                                           model.centroid_norms.size()));
    RETURN_IF_ERROR(codebook_.Upload(model.codebook.data(),
                                     model.codebook.size()));
    RETURN_IF_ERROR(fp8_table_.Upload(model.fp8_table.data(),
                                      model.fp8_table.size()));
    RETURN_IF_ERROR(rbq_scales_.Upload(model.rbq_scales.data(),
                                       model.rbq_scales.size()));
    lists_.clear();
    lists_.resize(model.nlist);
    std::vector<ListAppend> all(model.nlist);
    for (int l = 0; l < model.nlist; ++l) {
      all[l].list = l;
      all[l].ids = lists.ids[l];
      all[l].codes = lists.codes[l];
    }
    return AppendLocked(all);
  }

  absl::Status Append(const std::vector<ListAppend>& appends) override {
    std::lock_guard lock(mu_);
    QVDB_CUDA(cudaSetDevice(device_), "cudaSetDevice");
    return AppendLocked(appends);
  }

  absl::Status Tombstone(
      const std::vector<std::pair<int, size_t>>& slots) override {
    if (slots.empty()) return absl::OkStatus();
    std::lock_guard lock(mu_);
    QVDB_CUDA(cudaSetDevice(device_), "cudaSetDevice");
    std::vector<int64_t*> ptrs;
    for (const auto& [l, pos] : slots) {
      if (l < 0 || size_t(l) >= lists_.size() || pos >= lists_[l].size) {
        return absl::InternalError("tombstone outside the GPU lists");
      }
      ptrs.push_back(lists_[l].ids.get() + pos);
    }
    DeviceBuffer<int64_t*> d_ptrs;
    RETURN_IF_ERROR(d_ptrs.Upload(ptrs.data(), ptrs.size()));
    const int n = int(ptrs.size());
    TombstoneKernel<<<(n + 255) / 256, 256>>>(d_ptrs.get(), n);
    QVDB_CUDA(cudaGetLastError(), "tombstone kernel launch");
    QVDB_CUDA(cudaDeviceSynchronize(), "tombstone kernel");
    return absl::OkStatus();
  }

  absl::Status Search(const PreparedQueries& pq, int nprobe, int keep,
                      LutPrecision precision, size_t query_chunk,
                      int64_t* ids, float* distances) override {
    std::lock_guard lock(mu_);
    QVDB_CUDA(cudaSetDevice(device_), "cudaSetDevice");
    const size_t nq = pq.nq;
    const size_t chunk = std::max<size_t>(1, std::min(query_chunk, nq));
    const size_t nchunks = (nq + chunk - 1) / chunk;
    // Chunk c reuses the buffers of chunk c - 2, whose results are copied
    // out first; both streams are drained before returning, even on error.
    absl::Status failed;
    for (size_t c = 0; c < nchunks; ++c) {
      ChunkScratch& s = scratch_[c % 2];
      const absl::Status drained = Drain(&s, keep, ids, distances);
      if (!drained.ok()) {
        failed.Update(drained);
        break;
      }
      const absl::Status launched =
          LaunchChunk(pq, c * chunk, std::min(chunk, nq - c * chunk), nprobe,
                      keep, precision, &s);
      if (!launched.ok()) {
        failed.Update(launched);
        break;
      }
    }
    for (ChunkScratch& s : scratch_) failed.Update(Drain(&s, keep, ids, distances));
    return failed;
  }

  size_t device_bytes() const override {
    return list_bytes() + centroids_.bytes() + centroid_norms_.bytes() +
           codebook_.bytes() + fp8_table_.bytes() + rbq_scales_.bytes();
  }
  size_t list_bytes() const override {
    size_t b = 0;
    for (const DeviceList& l : lists_) b += l.ids.bytes() + l.codes.bytes();
    return b + list_ids_.bytes() + list_codes_.bytes() + list_len_.bytes();
  }

 private:
  absl::Status AppendLocked(const std::vector<ListAppend>& appends) {
    const size_t cs = model_.code_size;
    for (const ListAppend& a : appends) {
      if (a.list < 0 || size_t(a.list) >= lists_.size()) {
        return absl::InternalError("append to a list the GPU does not hold");
      }
      DeviceList& dl = lists_[a.list];
      const size_t n = a.ids.size();
      if (n == 0) continue;
      const size_t need = dl.size + n;
      if (need > dl.ids.capacity()) {
        // Grow by doubling, keeping what is there (device to device).
        const size_t cap = std::max(need, 2 * dl.ids.capacity());
        DeviceBuffer<int64_t> ids;
        DeviceBuffer<uint8_t> codes;
        RETURN_IF_ERROR(ids.Reserve(cap));
        RETURN_IF_ERROR(codes.Reserve(cap * cs));
        if (dl.size > 0) {
          QVDB_CUDA(cudaMemcpy(ids.get(), dl.ids.get(),
                               dl.size * sizeof(int64_t),
                               cudaMemcpyDeviceToDevice),
                    "cudaMemcpy (grow list ids)");
          QVDB_CUDA(cudaMemcpy(codes.get(), dl.codes.get(), dl.size * cs,
                               cudaMemcpyDeviceToDevice),
                    "cudaMemcpy (grow list codes)");
        }
        dl.ids = std::move(ids);
        dl.codes = std::move(codes);
      }
      QVDB_CUDA(cudaMemcpy(dl.ids.get() + dl.size, a.ids.data(),
                           n * sizeof(int64_t), cudaMemcpyHostToDevice),
                "cudaMemcpy (append ids)");
      QVDB_CUDA(cudaMemcpy(dl.codes.get() + dl.size * cs, a.codes.data(),
                           n * cs, cudaMemcpyHostToDevice),
                "cudaMemcpy (append codes)");
      dl.size = need;
    }
    // The kernels' view of the lists: pointers and lengths.
    std::vector<const int64_t*> id_ptrs(lists_.size());
    std::vector<const uint8_t*> code_ptrs(lists_.size());
    std::vector<int64_t> lens(lists_.size());
    for (size_t l = 0; l < lists_.size(); ++l) {
      id_ptrs[l] = lists_[l].ids.get();
      code_ptrs[l] = lists_[l].codes.get();
      lens[l] = int64_t(lists_[l].size);
    }
    RETURN_IF_ERROR(list_ids_.Upload(id_ptrs.data(), id_ptrs.size()));
    RETURN_IF_ERROR(list_codes_.Upload(code_ptrs.data(), code_ptrs.size()));
    RETURN_IF_ERROR(list_len_.Upload(lens.data(), lens.size()));
    return absl::OkStatus();
  }

  // Waits for the chunk in flight on s and copies its results out.
  absl::Status Drain(ChunkScratch* s, int keep, int64_t* ids,
                     float* distances) {
    if (!s->pending) return absl::OkStatus();
    s->pending = false;
    QVDB_CUDA(cudaStreamSynchronize(s->stream.get()), "search chunk");
    const size_t n = s->pending_n * size_t(keep);
    std::memcpy(ids + s->pending_q0 * keep, s->out_ids.get(),
                n * sizeof(int64_t));
    std::memcpy(distances + s->pending_q0 * keep, s->out_dist.get(),
                n * sizeof(float));
    return absl::OkStatus();
  }

  absl::Status LaunchChunk(const PreparedQueries& pq, size_t q0, size_t n,
                           int nprobe, int keep, LutPrecision precision,
                           ChunkScratch* s) {
    const GpuModel& m = model_;
    const int d = m.work_dim;
    const cudaStream_t st = s->stream.get();
    const size_t qd = n * size_t(d);
    // Stage in pinned memory, then copy asynchronously.
    RETURN_IF_ERROR(s->in_work.Reserve(qd));
    RETURN_IF_ERROR(s->in_scan.Reserve(qd));
    RETURN_IF_ERROR(s->in_const.Reserve(n));
    std::memcpy(s->in_work.get(), &pq.work[q0 * d], qd * sizeof(float));
    std::memcpy(s->in_scan.get(), &pq.scan[q0 * d], qd * sizeof(float));
    std::memcpy(s->in_const.get(), &pq.constant[q0], n * sizeof(float));
    RETURN_IF_ERROR(s->work.Reserve(qd));
    RETURN_IF_ERROR(s->scan.Reserve(qd));
    RETURN_IF_ERROR(s->constant.Reserve(n));
    QVDB_CUDA(cudaMemcpyAsync(s->work.get(), s->in_work.get(),
                              qd * sizeof(float), cudaMemcpyHostToDevice, st),
              "cudaMemcpyAsync (queries)");
    QVDB_CUDA(cudaMemcpyAsync(s->scan.get(), s->in_scan.get(),
                              qd * sizeof(float), cudaMemcpyHostToDevice, st),
              "cudaMemcpyAsync (queries)");
    QVDB_CUDA(cudaMemcpyAsync(s->constant.get(), s->in_const.get(),
                              n * sizeof(float), cudaMemcpyHostToDevice, st),
              "cudaMemcpyAsync (constants)");
    if (m.kind == ScanKind::kRbq) {
      const size_t cb = n * m.code_size, lv = size_t(m.rbq_levels);
      RETURN_IF_ERROR(s->in_rbq_codes.Reserve(cb));
      RETURN_IF_ERROR(s->in_rbq_f.Reserve(n * lv + n));
      std::memcpy(s->in_rbq_codes.get(), &pq.rbq_codes[q0 * m.code_size], cb);
      std::memcpy(s->in_rbq_f.get(), &pq.rbq_qscales[q0 * lv],
                  n * lv * sizeof(float));
      std::memcpy(s->in_rbq_f.get() + n * lv, &pq.rbq_norms[q0],
                  n * sizeof(float));
      RETURN_IF_ERROR(s->rbq_codes.Reserve(cb));
      RETURN_IF_ERROR(s->rbq_qscales.Reserve(n * lv));
      RETURN_IF_ERROR(s->rbq_norms.Reserve(n));
      QVDB_CUDA(cudaMemcpyAsync(s->rbq_codes.get(), s->in_rbq_codes.get(), cb,
                                cudaMemcpyHostToDevice, st),
                "cudaMemcpyAsync (RBQ query codes)");
      QVDB_CUDA(cudaMemcpyAsync(s->rbq_qscales.get(), s->in_rbq_f.get(),
                                n * lv * sizeof(float), cudaMemcpyHostToDevice,
                                st),
                "cudaMemcpyAsync (RBQ query scales)");
      QVDB_CUDA(cudaMemcpyAsync(s->rbq_norms.get(), s->in_rbq_f.get() + n * lv,
                                n * sizeof(float), cudaMemcpyHostToDevice, st),
                "cudaMemcpyAsync (RBQ query norms)");
    }

    // Coarse step.
    RETURN_IF_ERROR(s->probe_lists.Reserve(n * nprobe));
    RETURN_IF_ERROR(s->probe_dists.Reserve(n * nprobe));
    if (m.has_ivf) {
      RETURN_IF_ERROR(s->q_norms.Reserve(n));
      RETURN_IF_ERROR(s->dots.Reserve(n * size_t(m.nlist)));
      RowNormsKernel<<<int((n + 127) / 128), 128, 0, st>>>(
          s->work.get(), int(n), d, s->q_norms.get());
      QVDB_CUDA(cudaGetLastError(), "norms kernel launch");
      QVDB_CUBLAS(cublasSetStream(cublas_.get(), st), "cublasSetStream");
      const float one = 1.0f, zero = 0.0f;
      // Column-major: dots^T (nlist x n) = C (nlist x d) * Q^T (d x n).
      QVDB_CUBLAS(cublasSgemm(cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N,
                              m.nlist, int(n), d, &one, centroids_.get(), d,
                              s->work.get(), d, &zero, s->dots.get(), m.nlist),
                  "cublasSgemm (coarse step)");
      CoarseSelectKernel<<<int((n + 127) / 128), 128, 0, st>>>(
          s->dots.get(), s->q_norms.get(), centroid_norms_.get(), int(n),
          m.nlist, nprobe, m.inner_product, s->probe_lists.get(),
          s->probe_dists.get());
      QVDB_CUDA(cudaGetLastError(), "coarse kernel launch");
    } else {
      QVDB_CUDA(cudaMemsetAsync(s->probe_lists.get(), 0,
                                n * nprobe * sizeof(int), st),
                "cudaMemsetAsync");
      QVDB_CUDA(cudaMemsetAsync(s->probe_dists.get(), 0,
                                n * nprobe * sizeof(float), st),
                "cudaMemsetAsync");
    }

    // Scan with the fused top-k.
    RETURN_IF_ERROR(s->ids.Reserve(n * keep));
    RETURN_IF_ERROR(s->dist.Reserve(n * keep));
    ScanArgs a{};
    a.list_ids = list_ids_.get();
    a.list_codes = list_codes_.get();
    a.list_len = list_len_.get();
    a.code_size = m.code_size;
    a.queries = s->scan.get();
    a.constant = s->constant.get();
    a.probe_lists = s->probe_lists.get();
    a.probe_dists = s->probe_dists.get();
    a.nprobe = nprobe;
    a.d = d;
    a.keep = keep;
    a.inner_product = m.inner_product;
    a.by_residual = m.by_residual;
    a.centroids = centroids_.get();
    a.codebook = codebook_.get();
    a.m = m.pq_m;
    a.nbits = m.pq_nbits;
    a.ksub = m.pq_ksub;
    a.dsub = m.pq_dsub;
    a.precision = precision;
    a.fp8_table = fp8_table_.get();
    a.rbq_codes = s->rbq_codes.get();
    a.rbq_qscales = s->rbq_qscales.get();
    a.rbq_norms = s->rbq_norms.get();
    a.rbq_scales = rbq_scales_.get();
    a.rbq_levels = m.rbq_levels;
    a.out_ids = s->ids.get();
    a.out_dist = s->dist.get();
    RETURN_IF_ERROR(LaunchScan(a, int(n), st));

    RETURN_IF_ERROR(s->out_ids.Reserve(n * keep));
    RETURN_IF_ERROR(s->out_dist.Reserve(n * keep));
    QVDB_CUDA(cudaMemcpyAsync(s->out_ids.get(), s->ids.get(),
                              n * keep * sizeof(int64_t),
                              cudaMemcpyDeviceToHost, st),
              "cudaMemcpyAsync (results)");
    QVDB_CUDA(cudaMemcpyAsync(s->out_dist.get(), s->dist.get(),
                              n * keep * sizeof(float), cudaMemcpyDeviceToHost,
                              st),
              "cudaMemcpyAsync (results)");
    s->pending = true;
    s->pending_q0 = q0;
    s->pending_n = n;
    return absl::OkStatus();
  }

  template <ScanKind kKind>
  absl::Status LaunchKind(const ScanArgs& a, int nq, cudaStream_t st,
                          size_t shared) {
    if (a.keep <= 64) return Launch(ScanKernel<kKind, 64>, a, nq, st, shared);
    return Launch(ScanKernel<kKind, kMaxKeep>, a, nq, st, shared);
  }

  absl::Status Launch(void (*kernel)(ScanArgs), const ScanArgs& a, int nq,
                      cudaStream_t st, size_t shared) {
    QVDB_CUDA(cudaFuncSetAttribute(kernel,
                                   cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   int(shared)),
              "cudaFuncSetAttribute (shared memory)");
    kernel<<<nq, kBlockThreads, shared, st>>>(a);
    QVDB_CUDA(cudaGetLastError(), "scan kernel launch");
    return absl::OkStatus();
  }

  absl::Status LaunchScan(const ScanArgs& a, int nq, cudaStream_t st) {
    const size_t shared = ScanSharedBytes(model_.kind, a);
    if (shared > max_shared_) {
      return absl::UnimplementedError(
          "the scan needs " + std::to_string(shared) +
          " bytes of shared memory per block, the device has " +
          std::to_string(max_shared_) +
          ": use a smaller look-up-table precision or fewer sub-quantizers");
    }
    switch (model_.kind) {
      case ScanKind::kPq:
        return LaunchKind<ScanKind::kPq>(a, nq, st, shared);
      case ScanKind::kFp8:
        return LaunchKind<ScanKind::kFp8>(a, nq, st, shared);
      default:
        return LaunchKind<ScanKind::kRbq>(a, nq, st, shared);
    }
  }

  const int device_;
  size_t max_shared_ = 0;
  // Searches take turns on the device; writers too.
  std::mutex mu_;
  CublasHandle cublas_;
  ChunkScratch scratch_[2];
  GpuModel model_;
  DeviceBuffer<float> centroids_, centroid_norms_, codebook_, fp8_table_,
      rbq_scales_;
  std::vector<DeviceList> lists_;
  DeviceBuffer<const int64_t*> list_ids_;
  DeviceBuffer<const uint8_t*> list_codes_;
  DeviceBuffer<int64_t> list_len_;
};

}  // namespace

absl::Status CudaDeviceStatus(int device) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state
    return absl::UnavailableError(std::string("cudaGetDeviceCount: ") +
                                  cudaGetErrorString(e));
  }
  if (count == 0) {
    return absl::UnavailableError("cudaGetDeviceCount reports no device");
  }
  if (device < 0 || device >= count) {
    return absl::UnavailableError("CUDA device " + std::to_string(device) +
                                  " does not exist (" + std::to_string(count) +
                                  " present)");
  }
  return absl::OkStatus();
}

absl::StatusOr<DeviceInfo> CudaDeviceInfo(int device) {
  RETURN_IF_ERROR(CudaDeviceStatus(device));
  cudaDeviceProp prop;
  QVDB_CUDA(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  int clock_khz = 0, bus_bits = 0, l2 = 0;
  QVDB_CUDA(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate,
                                   device),
            "cudaDeviceGetAttribute (memory clock)");
  QVDB_CUDA(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth,
                                   device),
            "cudaDeviceGetAttribute (bus width)");
  QVDB_CUDA(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device),
            "cudaDeviceGetAttribute (L2 size)");
  DeviceInfo info;
  info.name = prop.name;
  // Double data rate: two transfers per memory clock.
  info.peak_bytes_per_second = 2.0 * double(clock_khz) * 1e3 * bus_bits / 8.0;
  info.l2_bytes = size_t(l2);
  return info;
}

absl::StatusOr<std::unique_ptr<GpuBackend>> CreateCudaBackend(int device) {
  RETURN_IF_ERROR(CudaDeviceStatus(device));
  auto backend = std::make_unique<CudaBackend>(device);
  RETURN_IF_ERROR(backend->Init());
  return std::unique_ptr<GpuBackend>(std::move(backend));
}

}  // namespace qvdb::gpu
