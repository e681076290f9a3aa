#include "client/hdf5_reader.h"

#include <fmt/format.h>
#include <hdf5.h>

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

// Defined by the sanitizer runtimes only (sanitizer/common_interface_defs.h).
extern "C" void __sanitizer_set_death_callback(void (*callback)(void))
    __attribute__((weak));

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

// --- The child's side: all libhdf5 calls, streamed through a pipe. ---
//
// Messages, in the machine's byte order: first kOpened (int32 dim, uint64
// rows) or kFailed; then per slab of up to kSlabRows rows kSlab (uint64
// rows, rows x dim float32) or kFailed. kFailed: uint32 absl::StatusCode,
// uint32 length, the message.
enum Tag : uint32_t { kOpened = 1, kSlab = 2, kFailed = 3 };

bool WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}

template <typename T>
bool WriteValue(int fd, T v) {
  return WriteAll(fd, &v, sizeof(v));
}

// Best effort: a reader that went away needs no message.
void WriteFailure(int fd, const absl::Status& status) {
  const std::string message(status.message());
  if (WriteValue(fd, uint32_t{kFailed}) &&
      WriteValue(fd, uint32_t(status.code())) &&
      WriteValue(fd, uint32_t(message.size()))) {
    WriteAll(fd, message.data(), message.size());
  }
}

// Opens `dataset` and checks its shape; sets *dim and *rows.
absl::Status OpenDataset(const std::string& path, const std::string& dataset,
                         Handle* file, Handle* ds, Handle* space, int* dim,
                         uint64_t* rows) {
  H5E_BEGIN_TRY {
    *file = Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT),
                   H5Fclose);
  }
  H5E_END_TRY;
  if (!file->ok()) {
    return absl::InvalidArgumentError(
        fmt::format("{} is not an HDF5 file (or is damaged)", path));
  }
  H5E_BEGIN_TRY {
    *ds = Handle(H5Dopen2(file->get(), dataset.c_str(), H5P_DEFAULT),
                 H5Dclose);
  }
  H5E_END_TRY;
  if (!ds->ok()) {
    return absl::NotFoundError(fmt::format(
        "{} has no dataset \"{}\"; it holds: {} (choose with --dataset)", path,
        dataset, RootNames(file->get())));
  }
  Handle type(H5Dget_type(ds->get()), H5Tclose);
  const H5T_class_t cls = type.ok() ? H5Tget_class(type.get()) : H5T_NO_CLASS;
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
    return absl::InvalidArgumentError(
        fmt::format("{}: dataset \"{}\" is not numeric", path, dataset));
  }
  *space = Handle(H5Dget_space(ds->get()), H5Sclose);
  const int ndims = space->ok() ? H5Sget_simple_extent_ndims(space->get()) : -1;
  if (ndims != 2) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: dataset \"{}\" has {} dimensions; expected 2 (rows x dim)", path,
        dataset, ndims));
  }
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(space->get(), dims, nullptr);
  if (dims[1] == 0 || dims[1] > (1u << 20)) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: dataset \"{}\" has dimension {}", path, dataset, dims[1]));
  }
  *dim = int(dims[1]);
  *rows = dims[0];
  return absl::OkStatus();
}

// Reads rows [first, first + count) into slab (count x dim floats).
absl::Status ReadSlab(const std::string& path, const Handle& ds,
                      const Handle& space, int dim, uint64_t first,
                      hsize_t count, std::vector<float>* slab) {
  const hsize_t shape[2] = {count, static_cast<hsize_t>(dim)};
  const hsize_t start[2] = {first, 0};
  slab->resize(shape[0] * shape[1]);
  herr_t err = -1;
  H5E_BEGIN_TRY {
    if (H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr,
                            shape, nullptr) >= 0) {
      Handle memspace(H5Screate_simple(2, shape, nullptr), H5Sclose);
      if (memspace.ok()) {
        err = H5Dread(ds.get(), H5T_NATIVE_FLOAT, memspace.get(), space.get(),
                      H5P_DEFAULT, slab->data());
      }
    }
  }
  H5E_END_TRY;
  if (err < 0) {
    return absl::DataLossError(fmt::format("{}: cannot read rows {} to {}",
                                           path, first, first + count));
  }
  return absl::OkStatus();
}

// The child: opens the dataset, streams its rows to fd, and exits. A fault
// in libhdf5 ends it by its signal (the handlers are reset so that no
// sanitizer or fuzzer report runs here); the parent reports it.
[[noreturn]] void ServeRows(int fd, const std::string& path,
                            const std::string& dataset) {
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
    signal(sig, SIG_DFL);
  }
  // In a sanitizer build under libFuzzer, the fuzzer's death callback would
  // file the child's end as the fuzzer's own crash.
  if (__sanitizer_set_death_callback != nullptr) {
    __sanitizer_set_death_callback(nullptr);
  }
  signal(SIGPIPE, SIG_IGN);  // a reader that went away: write fails
  Handle file, ds, space;
  int dim = 0;
  uint64_t rows = 0;
  if (absl::Status st = OpenDataset(path, dataset, &file, &ds, &space, &dim,
                                    &rows);
      !st.ok()) {
    WriteFailure(fd, st);
    _exit(0);
  }
  if (!WriteValue(fd, uint32_t{kOpened}) || !WriteValue(fd, int32_t(dim)) ||
      !WriteValue(fd, rows)) {
    _exit(0);
  }
  std::vector<float> slab;
  for (uint64_t first = 0; first < rows; first += kSlabRows) {
    const hsize_t count = std::min<hsize_t>(kSlabRows, rows - first);
    if (absl::Status st =
            ReadSlab(path, ds, space, dim, first, count, &slab);
        !st.ok()) {
      WriteFailure(fd, st);
      _exit(0);
    }
    if (!WriteValue(fd, uint32_t{kSlab}) || !WriteValue(fd, uint64_t{count}) ||
        !WriteAll(fd, slab.data(), slab.size() * sizeof(float))) {
      _exit(0);
    }
  }
  _exit(0);
}

// --- The parent's side: rows from the pipe. ---

// Reads exactly n bytes; false at the end of the stream (or an error).
bool ReadAll(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

template <typename T>
bool ReadValue(int fd, T* v) {
  return ReadAll(fd, v, sizeof(*v));
}

class Hdf5Source final : public VectorSource {
 public:
  Hdf5Source(std::string path, pid_t child, int fd)
      : path_(std::move(path)), child_(child), fd_(fd) {}
  ~Hdf5Source() override {
    close(fd_);
    if (child_ > 0) {
      kill(child_, SIGKILL);
      waitpid(child_, nullptr, 0);
    }
  }

  // The first message: the shape, or why the dataset cannot be read.
  absl::Status ReadHeader() {
    uint32_t tag = 0;
    if (!ReadValue(fd_, &tag)) return ChildFailed("opening it");
    if (tag == kFailed) return ReadFailure();
    int32_t dim = 0;
    if (tag != kOpened || !ReadValue(fd_, &dim) || !ReadValue(fd_, &rows_)) {
      return ChildFailed("opening it");
    }
    dim_ = dim;
    return absl::OkStatus();
  }

  int dim() const override { return dim_; }
  std::optional<uint64_t> size() const override { return rows_; }

  absl::StatusOr<bool> Next(VectorRecord* record) override {
    if (row_ >= rows_) return false;
    if (row_ >= slab_first_ + slab_rows_) {
      if (absl::Status s = ReadSlab(); !s.ok()) return s;
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
  // The next slab from the child; slabs come in order, so rows skipped
  // past are read and dropped.
  absl::Status ReadSlab() {
    while (row_ >= slab_first_ + slab_rows_) {
      const uint64_t next = slab_first_ + slab_rows_;
      uint32_t tag = 0;
      uint64_t count = 0;
      if (!ReadValue(fd_, &tag)) return ChildFailed(RowsText(next));
      if (tag == kFailed) return ReadFailure();
      if (tag != kSlab || !ReadValue(fd_, &count) || count == 0 ||
          count > kSlabRows || next + count > rows_) {
        return ChildFailed(RowsText(next));
      }
      slab_.resize(count * size_t(dim_));
      if (!ReadAll(fd_, slab_.data(), slab_.size() * sizeof(float))) {
        return ChildFailed(RowsText(next));
      }
      slab_first_ = next;
      slab_rows_ = count;
    }
    return absl::OkStatus();
  }

  std::string RowsText(uint64_t first) const {
    return fmt::format("reading rows from {}", first);
  }

  absl::Status ReadFailure() {
    uint32_t code = 0, length = 0;
    std::string message;
    if (!ReadValue(fd_, &code) || !ReadValue(fd_, &length) ||
        length > (1u << 16)) {
      return ChildFailed("reporting an error");
    }
    message.resize(length);
    if (!ReadAll(fd_, message.data(), length)) {
      return ChildFailed("reporting an error");
    }
    return absl::Status(static_cast<absl::StatusCode>(code), message);
  }

  // The stream ended early: the child died (libhdf5 faulted on the file).
  absl::Status ChildFailed(const std::string& doing) {
    int wstatus = 0;
    std::string how = "ended early";
    // The child has exited (end of stream); SIGKILL only matters if it is
    // somehow still running, and a signal it died of is kept.
    if (child_ > 0) kill(child_, SIGKILL);
    if (child_ > 0 && waitpid(child_, &wstatus, 0) == child_) {
      child_ = -1;
      if (WIFSIGNALED(wstatus)) {
        how = fmt::format("crashed (signal {})", WTERMSIG(wstatus));
      }
    }
    return absl::DataLossError(fmt::format(
        "{}: libhdf5 {} {}: the file is damaged", path_, how, doing));
  }

  const std::string path_;
  pid_t child_;
  const int fd_;
  int dim_ = 0;
  uint64_t rows_ = 0;
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
  int fds[2];
  if (pipe(fds) != 0) {
    return absl::InternalError(
        fmt::format("{}: cannot create a pipe: {}", path, strerror(errno)));
  }
  const pid_t child = fork();
  if (child < 0) {
    close(fds[0]);
    close(fds[1]);
    return absl::InternalError(
        fmt::format("{}: cannot start the reader: {}", path, strerror(errno)));
  }
  if (child == 0) {
    close(fds[0]);
    ServeRows(fds[1], path, dataset);
  }
  close(fds[1]);
  auto source = std::make_unique<Hdf5Source>(path, child, fds[0]);
  if (absl::Status st = source->ReadHeader(); !st.ok()) return st;
  return std::unique_ptr<VectorSource>(std::move(source));
}

}  // namespace qvdb::client
