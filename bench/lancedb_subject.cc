#include "bench/lancedb_subject.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "base/status_macros.h"

#ifndef QVDB_SOURCE_DIR
#define QVDB_SOURCE_DIR "."
#endif

namespace qvdb::bench {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr const char* kInstall =
    "(mkdir -p build/lancedb && cd build/lancedb && npm i -E "
    "@lancedb/lancedb@0.31.0)";

std::string PackageDir(const LanceDbOptions& o) {
  return o.package_dir.empty() ? std::string(QVDB_SOURCE_DIR) + "/build/lancedb"
                               : o.package_dir;
}

std::string Script(const LanceDbOptions& o) {
  return o.script.empty()
             ? std::string(QVDB_SOURCE_DIR) + "/bench/lancedb_sweep.mjs"
             : o.script;
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The node binary's path, or empty when there is none.
std::string FindExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    return access(name.c_str(), X_OK) == 0 ? name : "";
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string DistanceName(Metric metric) {
  switch (metric) {
    case Metric::kL2:
      return "l2";
    case Metric::kInnerProduct:
      return "dot";
    case Metric::kCosine:
      return "cosine";
  }
  return "l2";
}

template <typename T>
absl::StatusOr<T> Field(const Json& j, const char* key, const char* where) {
  if (!j.contains(key) || j[key].is_null()) {
    return absl::InvalidArgumentError(
        fmt::format("LanceDB output: {} has no \"{}\"", where, key));
  }
  try {
    return j[key].get<T>();
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        fmt::format("LanceDB output: {}.{}: {}", where, key, e.what()));
  }
}

class LanceDbSubject final : public SweepSubject {
 public:
  LanceDbSubject(LanceDbIndex index, LanceDbOptions options,
                 LanceDbSweepPlan plan, const Matrix<float>& queries)
      : index_(std::move(index)),
        options_(std::move(options)),
        plan_(std::move(plan)),
        queries_(queries) {}

  std::string system() const override {
    return index_.kind == "IVF_RQ" ? "lancedb-ivfrq" : "lancedb-ivfpq";
  }
  std::string label() const override {
    return fmt::format("LanceDB {} {} {}{}, {} partitions, {}", kLanceDbVersion,
                       index_.kind, index_.param,
                       index_.kind == "IVF_RQ" ? " bit(s)/dim" : " x 8 bits",
                       plan_.partitions, DistanceName(plan_.metric));
  }

  // Runs the driver: build, then every point (LanceDB trains on a sample of
  // its own table; it cannot be handed the sweep's training rows).
  absl::StatusOr<BuildFigures> Build(const Matrix<float>& train,
                                     const Matrix<float>& base,
                                     int threads) override {
    dim_ = base.cols;
    std::string tmpl =
        (fs::temp_directory_path() / "qvdb-lancedb-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      return absl::InternalError(
          "cannot create a temporary directory for LanceDB: check TMPDIR");
    }
    const fs::path dir = tmpl;
    absl::Status status = Run(dir, base);
    std::error_code ec;
    fs::remove_all(dir, ec);
    RETURN_IF_ERROR(status);
    BuildFigures f;
    f.train_seconds = run_.index_seconds;
    f.add_seconds = run_.load_seconds;
    return f;
  }

  absl::StatusOr<Footprint> Measure() const override {
    const double n = double(std::max<size_t>(1, run_.n));
    Footprint f;
    f.ram_bytes_per_vector = LanceDbCodeBytes(index_, dim_);
    f.ram_how = fmt::format(
        "LanceDB's code bytes, computed: {}; its index files hold {:.1f} "
        "B/vector (codes, factors, row ids, centroids, codebooks)",
        index_.kind == "IVF_RQ"
            ? "b * d / 8 bits + 4-byte factors (add, scale, error; b > 1 "
              "also the extended code's add and scale), the columns of "
              "lance's RaBitQ storage"
            : "m one-byte PQ codes",
        double(run_.index_bytes) / n);
    f.disk_bytes_per_vector = double(run_.dataset_bytes) / n;
    f.disk_how =
        "the LanceDB dataset directory / n (measured): the table, which "
        "keeps the float32 vectors, and the index";
    return f;
  }

  std::vector<Knobs> KnobGrid(const KnobLists& lists) const override {
    std::vector<Knobs> grid;
    for (int nprobe : plan_.nprobes) grid.push_back({nprobe, 0, 0, 0});
    return grid;
  }

  absl::Status Search(const float* queries, size_t nq, int k,
                      const Knobs& knobs, int threads,
                      int64_t* ids) const override {
    return absl::UnimplementedError(
        "LanceDB is searched in its own Node process: use MeasuredPointFor");
  }

  bool measures_itself() const override { return true; }

  std::optional<MeasuredPoint> MeasuredPointFor(const Knobs& knobs, int threads,
                                                int batch) const override {
    if (batch != 1) return std::nullopt;
    for (const LanceDbRun::Point& p : run_.points) {
      if (p.nprobes != knobs.nprobe || p.callers != threads) continue;
      MeasuredPoint m;
      m.ids = p.ids;
      m.qps = p.qps;
      m.latency_p50_us = p.p50_us;
      m.latency_p95_us = p.p95_us;
      m.latency_p99_us = p.p99_us;
      m.calls = p.calls;
      return m;
    }
    return std::nullopt;
  }

  std::string note() const override {
    return fmt::format(
        "@lancedb/lancedb {} from Node: batch 1 only, `threads` = async "
        "calls in flight in one Node process; QPS and latency include the "
        "per-call Node/Arrow overhead, measured as a 1-row scan with no "
        "vector work: p50 {:.0f} us, p95 {:.0f} us",
        run_.version, run_.overhead_p50_us, run_.overhead_p95_us);
  }

 private:
  absl::Status Run(const fs::path& dir, const Matrix<float>& base) {
    const std::string base_path = (dir / "base.fvecs").string();
    const std::string queries_path = (dir / "queries.fvecs").string();
    const std::string out_path = (dir / "out.json").string();
    RETURN_IF_ERROR(WriteFvecs(base_path, base));
    RETURN_IF_ERROR(WriteFvecs(queries_path, queries_));
    Json request = {{"package_dir", PackageDir(options_)},
                    {"base", base_path},
                    {"queries", queries_path},
                    {"kind", index_.kind},
                    {"param", index_.param},
                    {"partitions", plan_.partitions},
                    {"distance", DistanceName(plan_.metric)},
                    {"nprobes", plan_.nprobes},
                    {"callers", plan_.callers},
                    {"k", plan_.k},
                    {"min_seconds", plan_.min_seconds},
                    {"out", out_path}};
    const std::string request_path = (dir / "request.json").string();
    {
      std::ofstream out(request_path);
      out << request.dump();
      if (!out) {
        return absl::InternalError(
            fmt::format("cannot write {}: check TMPDIR", request_path));
      }
    }
    // The driver's messages (LanceDB's warnings) go to our stderr.
    const std::string command =
        fmt::format("{} {} {} 1>&2", Quote(FindExecutable(options_.node)),
                    Quote(Script(options_)), Quote(request_path));
    const int rc = std::system(command.c_str());
    if (rc != 0) {
      return absl::InternalError(fmt::format(
          "LanceDB driver failed (status {}): {}; its messages are above", rc,
          command));
    }
    std::ifstream in(out_path);
    std::stringstream text;
    text << in.rdbuf();
    ASSIGN_OR_RETURN(run_,
                     ParseLanceDbOutput(text.str(), queries_.rows, plan_.k));
    return absl::OkStatus();
  }

  LanceDbIndex index_;
  LanceDbOptions options_;
  LanceDbSweepPlan plan_;
  const Matrix<float>& queries_;
  int dim_ = 0;
  LanceDbRun run_;
};

}  // namespace

absl::StatusOr<LanceDbIndex> ParseLanceDbIndex(std::string_view text) {
  const size_t colon = text.find(':');
  std::string kind(text.substr(0, colon));
  for (char& c : kind) c = char(std::toupper(static_cast<unsigned char>(c)));
  const std::string param = colon == std::string_view::npos
                                ? ""
                                : std::string(text.substr(colon + 1));
  if (kind != "IVF_RQ" && kind != "IVF_PQ") {
    return absl::InvalidArgumentError(fmt::format(
        "--lancedb \"{}\": the index must be IVF_RQ or IVF_PQ, e.g. IVF_RQ:1 "
        "or IVF_PQ:16",
        text));
  }
  int value = 0;
  size_t used = 0;
  try {
    value = std::stoi(param, &used);
  } catch (...) {
    used = 0;
  }
  if (param.empty() || used != param.size()) {
    return absl::InvalidArgumentError(fmt::format(
        "--lancedb \"{}\": give {} after a colon, e.g. {}:{}", text,
        kind == "IVF_RQ" ? "the bits per dimension" : "the sub-vector count",
        kind, kind == "IVF_RQ" ? 1 : 16));
  }
  if (kind == "IVF_RQ" && (value < 1 || value > 8)) {
    return absl::InvalidArgumentError(fmt::format(
        "--lancedb \"{}\": IVF_RQ takes 1 to 8 bits per dimension", text));
  }
  if (kind == "IVF_PQ" && value < 1) {
    return absl::InvalidArgumentError(fmt::format(
        "--lancedb \"{}\": IVF_PQ needs at least one sub-vector", text));
  }
  return LanceDbIndex{kind, value};
}

double LanceDbCodeBytes(const LanceDbIndex& index, int dim) {
  if (index.kind == "IVF_PQ") return index.param;
  const int sign_bytes = (dim + 7) / 8;
  const int ex_bytes = ((index.param - 1) * dim + 7) / 8;
  return sign_bytes + ex_bytes + (index.param == 1 ? 12 : 20);
}

absl::Status LanceDbAvailable(const LanceDbOptions& o) {
  if (FindExecutable(o.node).empty()) {
    return absl::NotFoundError(fmt::format(
        "node (\"{}\") not found: install Node.js or pass --node", o.node));
  }
  if (!fs::exists(Script(o))) {
    return absl::NotFoundError(fmt::format(
        "LanceDB driver {} not found: pass --lancedb-script", Script(o)));
  }
  const fs::path package = fs::path(PackageDir(o)) / "node_modules" /
                           "@lancedb" / "lancedb" / "package.json";
  std::ifstream in(package);
  if (!in) {
    return absl::NotFoundError(fmt::format(
        "@lancedb/lancedb not installed in {}: {}", PackageDir(o), kInstall));
  }
  std::string version;
  try {
    version = Json::parse(in).value("version", "");
  } catch (const Json::exception&) {
  }
  if (version != kLanceDbVersion) {
    return absl::FailedPreconditionError(
        fmt::format("@lancedb/lancedb in {} is \"{}\", the sweep pins {}: {}",
                    PackageDir(o), version, kLanceDbVersion, kInstall));
  }
  return absl::OkStatus();
}

absl::StatusOr<LanceDbRun> ParseLanceDbOutput(std::string_view text,
                                              size_t queries, int k) {
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        fmt::format("LanceDB output is not JSON: {}", e.what()));
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError("LanceDB output is not a JSON object");
  }
  LanceDbRun r;
  ASSIGN_OR_RETURN(r.version, Field<std::string>(j, "version", "top level"));
  ASSIGN_OR_RETURN(r.n, Field<size_t>(j, "n", "top level"));
  ASSIGN_OR_RETURN(r.dim, Field<int>(j, "dim", "top level"));
  ASSIGN_OR_RETURN(r.load_seconds, Field<double>(j, "load_s", "top level"));
  ASSIGN_OR_RETURN(r.index_seconds, Field<double>(j, "index_s", "top level"));
  ASSIGN_OR_RETURN(r.dataset_bytes,
                   Field<uint64_t>(j, "dataset_bytes", "top level"));
  ASSIGN_OR_RETURN(r.index_bytes,
                   Field<uint64_t>(j, "index_bytes", "top level"));
  ASSIGN_OR_RETURN(Json overhead, Field<Json>(j, "overhead_us", "top level"));
  ASSIGN_OR_RETURN(r.overhead_p50_us,
                   Field<double>(overhead, "p50", "overhead_us"));
  ASSIGN_OR_RETURN(r.overhead_p95_us,
                   Field<double>(overhead, "p95", "overhead_us"));
  ASSIGN_OR_RETURN(Json points, Field<Json>(j, "points", "top level"));
  if (!points.is_array()) {
    return absl::InvalidArgumentError("LanceDB output: points is not an array");
  }
  for (size_t i = 0; i < points.size(); ++i) {
    const std::string where = fmt::format("points[{}]", i);
    const Json& pj = points[i];
    LanceDbRun::Point p;
    ASSIGN_OR_RETURN(p.nprobes, Field<int>(pj, "nprobes", where.c_str()));
    ASSIGN_OR_RETURN(p.callers, Field<int>(pj, "callers", where.c_str()));
    ASSIGN_OR_RETURN(p.qps, Field<double>(pj, "qps", where.c_str()));
    ASSIGN_OR_RETURN(p.calls, Field<uint64_t>(pj, "calls", where.c_str()));
    ASSIGN_OR_RETURN(p.p50_us, Field<double>(pj, "p50_us", where.c_str()));
    ASSIGN_OR_RETURN(p.p95_us, Field<double>(pj, "p95_us", where.c_str()));
    ASSIGN_OR_RETURN(p.p99_us, Field<double>(pj, "p99_us", where.c_str()));
    ASSIGN_OR_RETURN(p.ids,
                     Field<std::vector<int64_t>>(pj, "ids", where.c_str()));
    if (p.ids.size() != queries * size_t(k)) {
      return absl::InvalidArgumentError(fmt::format(
          "LanceDB output: {} has {} ids, expected {} queries x k {}", where,
          p.ids.size(), queries, k));
    }
    r.points.push_back(std::move(p));
  }
  return r;
}

absl::StatusOr<std::unique_ptr<SweepSubject>> MakeLanceDbSubject(
    const LanceDbIndex& index, const LanceDbOptions& options,
    const LanceDbSweepPlan& plan, const Matrix<float>& queries) {
  if (plan.partitions < 1) {
    return absl::InvalidArgumentError(
        "--lancedb-partitions must be at least 1");
  }
  if (plan.nprobes.empty() || plan.callers.empty()) {
    return absl::InvalidArgumentError(
        "LanceDB needs at least one nprobe and one thread count");
  }
  if (index.kind == "IVF_PQ" && queries.cols % index.param != 0) {
    return absl::InvalidArgumentError(
        fmt::format("--lancedb IVF_PQ:{}: the sub-vector count must divide the "
                    "dimension {}",
                    index.param, queries.cols));
  }
  RETURN_IF_ERROR(LanceDbAvailable(options));
  return std::make_unique<LanceDbSubject>(index, options, plan, queries);
}

}  // namespace qvdb::bench
