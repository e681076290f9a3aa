#include "client/hdf5_reader.h"

#include <fmt/format.h>
#include <hdf5.h>

#include <algorithm>
#include <filesystem>
#include <vector>

namespace qvdb::client {
namespace {

// Owns one HDF5 identifier and closes it with `close`.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() { Reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      Reset();
      id_ = o.id_;
      close_ = o.close_;
      o.id_ = -1;
    }
    return *this;
  }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  void Reset() {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
    id_ = -1;
  }
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

herr_t CollectName(hid_t, const char* name, const H5L_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}

// The names at the file's root, for error messages.
std::string RootNames(hid_t file) {
  std::vector<std::string> names;
  H5E_BEGIN_TRY {
    H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, nullptr, CollectName, &names);
  }
  H5E_END_TRY;
  std::string out;
  for (const std::string& n : names) {
    out += (out.empty() ? "" : ", ") + n;
  }
  return out.empty() ? "(none)" : out;
}

constexpr hsize_t kSlabRows = 1024;

class Hdf5Source final : public VectorSource {
 public:
  Hdf5Source(std::string path, Handle file, Handle dataset, Handle space,
             int dim, uint64_t rows)
      : path_(std::move(path)),
        file_(std::move(file)),
        dataset_(std::move(dataset)),
        space_(std::move(space)),
        dim_(dim),
        rows_(rows) {}

  int dim() const override { return dim_; }
  std::optional<uint64_t> size() const override { return rows_; }

  absl::StatusOr<bool> Next(VectorRecord* record) override {
    if (row_ >= rows_) return false;
    if (row_ >= slab_first_ + slab_rows_) {
      if (absl::Status s = ReadSlab(row_); !s.ok()) return s;
    }
    const float* p = slab_.data() + (row_ - slab_first_) * dim_;
    record->vector.assign(p, p + dim_);
    record->u64_id_from_file.reset();
    record->str_id_from_file.reset();
    record->payload.clear();
    record->row = row_++;
    return true;
  }

  absl::StatusOr<bool> Skip(uint64_t n) override {
    const uint64_t step = std::min(n, rows_ - row_);
    row_ += step;
    return step == n;
  }

 private:
  absl::Status ReadSlab(uint64_t first) {
    const hsize_t count[2] = {std::min<hsize_t>(kSlabRows, rows_ - first),
                              static_cast<hsize_t>(dim_)};
    const hsize_t start[2] = {first, 0};
    slab_.resize(count[0] * count[1]);
    herr_t err = -1;
    H5E_BEGIN_TRY {
      if (H5Sselect_hyperslab(space_.get(), H5S_SELECT_SET, start, nullptr,
                              count, nullptr) >= 0) {
        Handle memspace(H5Screate_simple(2, count, nullptr), H5Sclose);
        if (memspace.ok()) {
          err = H5Dread(dataset_.get(), H5T_NATIVE_FLOAT, memspace.get(),
                        space_.get(), H5P_DEFAULT, slab_.data());
        }
      }
    }
    H5E_END_TRY;
    if (err < 0) {
      return absl::DataLossError(fmt::format("{}: cannot read rows {} to {}",
                                             path_, first, first + count[0]));
    }
    slab_first_ = first;
    slab_rows_ = count[0];
    return absl::OkStatus();
  }

  const std::string path_;
  Handle file_;
  Handle dataset_;
  Handle space_;
  const int dim_;
  const uint64_t rows_;
  uint64_t row_ = 0;
  std::vector<float> slab_;
  uint64_t slab_first_ = 0;
  uint64_t slab_rows_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<VectorSource>> OpenHdf5Source(
    const std::string& path, const std::string& dataset) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(fmt::format("{} does not exist", path));
  }
  Handle file;
  H5E_BEGIN_TRY {
    file = Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  }
  H5E_END_TRY;
  if (!file.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("{} is not an HDF5 file (or is damaged)", path));
  }
  Handle ds;
  H5E_BEGIN_TRY {
    ds = Handle(H5Dopen2(file.get(), dataset.c_str(), H5P_DEFAULT), H5Dclose);
  }
  H5E_END_TRY;
  if (!ds.ok()) {
    return absl::NotFoundError(fmt::format(
        "{} has no dataset \"{}\"; it holds: {} (choose with --dataset)", path,
        dataset, RootNames(file.get())));
  }
  Handle type(H5Dget_type(ds.get()), H5Tclose);
  const H5T_class_t cls = type.ok() ? H5Tget_class(type.get()) : H5T_NO_CLASS;
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
    return absl::InvalidArgumentError(
        fmt::format("{}: dataset \"{}\" is not numeric", path, dataset));
  }
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  const int ndims = space.ok() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (ndims != 2) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: dataset \"{}\" has {} dimensions; expected 2 (rows x dim)", path,
        dataset, ndims));
  }
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  if (dims[1] == 0 || dims[1] > (1u << 20)) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: dataset \"{}\" has dimension {}", path, dataset, dims[1]));
  }
  return std::unique_ptr<VectorSource>(
      new Hdf5Source(path, std::move(file), std::move(ds), std::move(space),
                     static_cast<int>(dims[1]), dims[0]));
}

}  // namespace qvdb::client
