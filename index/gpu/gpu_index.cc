#include "index/gpu/gpu_index.h"

#include <algorithm>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "index/gpu/gpu_backend.h"
#include "index/gpu/gpu_model.h"
#include "index/ivf/ivf_index.h"
#include "base/status_macros.h"

namespace qvdb {
namespace {

using gpu::GpuBackend;
using gpu::GpuModel;

gpu::LutPrecision ToLutPrecision(GpuLutPrecision p) {
  switch (p) {
    case GpuLutPrecision::kFloat16:
      return gpu::LutPrecision::kF16;
    case GpuLutPrecision::kFloat8E4M3:
      return gpu::LutPrecision::kE4M3;
    default:
      return gpu::LutPrecision::kF32;
  }
}

class GpuIndex final : public VectorIndex {
 public:
  GpuIndex(std::unique_ptr<VectorIndex> cpu, std::unique_ptr<GpuBackend> be,
           const GpuIndexOptions& options)
      : owner_(std::move(cpu)),
        cpu_(static_cast<IvfIndex*>(owner_.get())),
        backend_(std::move(be)),
        options_(options) {}

  const IndexSpec& spec() const override { return cpu_->spec(); }
  int dim() const override { return cpu_->dim(); }
  Metric metric() const override { return cpu_->metric(); }
  bool is_trained() const override { return cpu_->is_trained(); }
  size_t min_train_size() const override { return cpu_->min_train_size(); }
  size_t size() const override { return cpu_->size(); }
  size_t code_size() const override { return cpu_->code_size(); }
  size_t ram_refine_code_size() const override {
    return cpu_->ram_refine_code_size();
  }
  size_t refine_code_size() const override {
    return cpu_->refine_code_size();
  }
  size_t memory_bytes() const override { return cpu_->memory_bytes(); }

  double bytes_per_vector() const {
    std::shared_lock lock(mu_);
    const size_t n = cpu_->size();
    if (!model_ || n == 0) return 0.0;
    return double(backend_->device_bytes()) / double(n);
  }

  absl::Status Train(const float* x, size_t n) override {
    std::unique_lock lock(mu_);
    RETURN_IF_ERROR(cpu_->Train(x, n));
    ResyncAll();
    return absl::OkStatus();
  }
  absl::StatusOr<EncodedVectors> Encode(const float* x,
                                        size_t n) const override {
    return cpu_->Encode(x, n);
  }

  absl::Status AddEncoded(const int64_t* ids,
                          const EncodedVectors& enc) override {
    std::unique_lock lock(mu_);
    // Upserts: the old slots become tombstones on the GPU too.
    std::vector<std::pair<int, size_t>> dead;
    if (model_) dead = Slots(ids, enc.n);
    RETURN_IF_ERROR(cpu_->AddEncoded(ids, enc));
    if (!model_) return absl::OkStatus();
    std::set<int32_t> touched(enc.lists.begin(), enc.lists.end());
    std::vector<gpu::ListAppend> appends;
    for (int32_t l : touched) {
      gpu::ListAppend a;
      a.list = l;
      cpu_->ReadList(l, device_len_[l], &a.ids, &a.codes);
      device_len_[l] += a.ids.size();
      appends.push_back(std::move(a));
    }
    absl::Status st = backend_->Append(appends);
    if (st.ok()) st = backend_->Tombstone(dead);
    if (!st.ok()) DropDevice(st);
    return absl::OkStatus();
  }

  absl::Status Add(const int64_t* ids, const float* x, size_t n) override {
    ASSIGN_OR_RETURN(EncodedVectors enc, cpu_->Encode(x, n));
    return AddEncoded(ids, enc);
  }

  void ReserveIds(int64_t first, int64_t last) override {
    cpu_->ReserveIds(first, last);
  }
  void Remove(const int64_t* ids, size_t n) override {
    std::unique_lock lock(mu_);
    std::vector<std::pair<int, size_t>> dead;
    if (model_) dead = Slots(ids, n);
    cpu_->Remove(ids, n);
    if (!model_) return;
    if (absl::Status st = backend_->Tombstone(dead); !st.ok()) DropDevice(st);
  }

  void Compact() override {
    std::unique_lock lock(mu_);
    cpu_->Compact();
    ResyncAll();
  }

  absl::StatusOr<SearchResults> Search(
      const float* queries, size_t nq,
      const SearchParams& params) const override {
    // The CPU index's own checks (k, nprobe, trained) and its answer for
    // nq = 0.
    ASSIGN_OR_RETURN(SearchResults empty, cpu_->Search(queries, 0, params));
    if (nq == 0) return empty;
    RETURN_IF_ERROR(CheckFinite(queries, nq, dim()));
    std::shared_lock lock(mu_);
    if (!model_ || params.filter != nullptr) {
      return cpu_->Search(queries, nq, params);
    }
    absl::StatusOr<int> keep = gpu::GpuKeep(*model_, params);
    if (!keep.ok()) return cpu_->Search(queries, nq, params);
    ASSIGN_OR_RETURN(gpu::PreparedQueries pq,
                     gpu::PrepareQueries(*model_, *cpu_, queries, nq));
    std::vector<int64_t> ids(nq * *keep);
    std::vector<float> dist(nq * *keep);
    const int nprobe = std::min(params.nprobe, model_->nlist);
    absl::Status st =
        backend_->Search(pq, nprobe, *keep, ToLutPrecision(options_.lut_precision),
                         std::max<size_t>(options_.query_chunk, 1), ids.data(),
                         dist.data());
    if (!st.ok()) {
      spdlog::warn("GPU search failed, searching on the CPU: {}",
                   std::string(st.message()));
      return cpu_->Search(queries, nq, params);
    }
    return gpu::FinishSearch(*model_, *cpu_, pq, ids.data(), dist.data(),
                             *keep, params);
  }

  // A few rows' codes: the CPU's RAM copies serve it.
  absl::StatusOr<SearchResults> SearchAmong(
      const float* queries, size_t nq, std::span<const int64_t> ids,
      const SearchParams& params) const override {
    std::shared_lock lock(mu_);
    return cpu_->SearchAmong(queries, nq, ids, params);
  }
  absl::StatusOr<std::vector<uint32_t>> CountInProbedLists(
      const float* queries, size_t nq, std::span<const int64_t> ids,
      int nprobe) const override {
    std::shared_lock lock(mu_);
    return cpu_->CountInProbedLists(queries, nq, ids, nprobe);
  }

  void SetRefineCodeSource(const RefineCodeSource* source) override {
    std::unique_lock lock(mu_);
    cpu_->SetRefineCodeSource(source);
  }
  std::string SerializeModel() const override {
    return cpu_->SerializeModel();
  }
  absl::Status LoadModel(std::string_view bytes) override {
    std::unique_lock lock(mu_);
    RETURN_IF_ERROR(cpu_->LoadModel(bytes));
    ResyncAll();
    return absl::OkStatus();
  }

  // Uploads models and lists when trained (under the exclusive lock).
  void ResyncAll() {
    model_.reset();
    if (!cpu_->is_trained()) return;
    absl::StatusOr<GpuModel> model = gpu::BuildGpuModel(*cpu_);
    if (!model.ok()) return DropDevice(model.status());
    const gpu::GpuLists lists = gpu::ReadAllLists(*cpu_, model->nlist);
    if (absl::Status st = backend_->Upload(*model, lists); !st.ok()) {
      return DropDevice(st);
    }
    device_len_.assign(model->nlist, 0);
    for (int l = 0; l < model->nlist; ++l) {
      device_len_[l] = lists.ids[l].size();
    }
    model_ = std::move(*model);
  }

 private:
  std::vector<std::pair<int, size_t>> Slots(const int64_t* ids, size_t n) {
    std::vector<std::pair<int, size_t>> slots;
    for (size_t i = 0; i < n; ++i) {
      size_t l = 0, pos = 0;
      if (cpu_->LocateId(ids[i], &l, &pos) && pos < device_len_[l]) {
        slots.emplace_back(int(l), pos);
      }
    }
    return slots;
  }
  // The device copy is no longer in step: the CPU serves from now on.
  void DropDevice(const absl::Status& why) {
    spdlog::error("GPU index {} dropped its device copy, searching on the "
                  "CPU: {}",
                  cpu_->spec().ToString(), std::string(why.message()));
    model_.reset();
  }

  std::unique_ptr<VectorIndex> owner_;
  IvfIndex* const cpu_;
  const std::unique_ptr<GpuBackend> backend_;
  const GpuIndexOptions options_;
  // Writers (exclusive) keep the device copy in step with the CPU index;
  // searches hold it shared.
  mutable std::shared_mutex mu_;
  std::optional<GpuModel> model_;    // empty: the CPU serves every search
  std::vector<size_t> device_len_;   // slots of each list on the device
};

}  // namespace

absl::Status GpuDeviceStatus() { return gpu::CudaDeviceStatus(0); }

absl::StatusOr<GpuDeviceInfo> GetGpuDeviceInfo(int device) {
  ASSIGN_OR_RETURN(gpu::DeviceInfo d, gpu::CudaDeviceInfo(device));
  return GpuDeviceInfo{d.name, d.peak_bytes_per_second, d.l2_bytes};
}

std::string GpuFallbackMessage(const absl::Status& why) {
  return fmt::format("no CUDA device: searching on the CPU ({})",
                     std::string(why.message()));
}

absl::StatusOr<std::unique_ptr<VectorIndex>> MakeGpuIndex(
    std::unique_ptr<VectorIndex> cpu, const GpuIndexOptions& options,
    std::unique_ptr<VectorIndex>* fallback) {
  auto fail = [&](absl::Status st) {
    if (fallback) *fallback = std::move(cpu);
    return st;
  };
  if (cpu == nullptr || dynamic_cast<IvfIndex*>(cpu.get()) == nullptr) {
    return fail(absl::InvalidArgumentError(
        "MakeGpuIndex takes an index from CreateVectorIndex"));
  }
  if (absl::Status st = gpu::GpuSupportsSpec(cpu->spec(), cpu->metric());
      !st.ok()) {
    return fail(st);
  }
  if (absl::Status st = gpu::CudaDeviceStatus(options.device); !st.ok()) {
    return fail(st);
  }
  absl::StatusOr<std::unique_ptr<GpuBackend>> backend =
      gpu::CreateCudaBackend(options.device);
  if (!backend.ok()) return fail(backend.status());
  auto index = std::make_unique<GpuIndex>(std::move(cpu), std::move(*backend),
                                          options);
  {
    // A trained index goes to the device now.
    index->ResyncAll();
  }
  return std::unique_ptr<VectorIndex>(std::move(index));
}

double GpuBytesPerVector(const VectorIndex& index) {
  const auto* g = dynamic_cast<const GpuIndex*>(&index);
  return g ? g->bytes_per_vector() : -1.0;
}

}  // namespace qvdb
