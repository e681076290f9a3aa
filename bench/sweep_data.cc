#include "bench/sweep_data.h"

#include <fmt/format.h>
#include <hdf5.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <optional>

#include "bench/bench_util.h"
#include "client/hdf5_reader.h"
#include "client/vector_source.h"
#include "index/search/ground_truth.h"
#include "base/status_macros.h"
#include "index/search/vector_file.h"

namespace qvdb::bench {
namespace {

absl::StatusOr<Matrix<float>> ReadAll(client::VectorSource& source,
                                      const std::string& path) {
  Matrix<float> m;
  m.cols = source.dim();
  if (auto n = source.size()) m.data.reserve(*n * m.cols);
  client::VectorRecord record;
  while (true) {
    ASSIGN_OR_RETURN(bool more, source.Next(&record));
    if (!more) break;
    if (int(record.vector.size()) != m.cols) {
      return absl::InvalidArgumentError(
          fmt::format("{}: row {} has {} values, expected {}", path, record.row,
                      record.vector.size(), m.cols));
    }
    m.data.insert(m.data.end(), record.vector.begin(), record.vector.end());
    ++m.rows;
  }
  if (m.rows == 0) {
    return absl::InvalidArgumentError(fmt::format("{}: no rows", path));
  }
  return m;
}

absl::StatusOr<Matrix<float>> ReadVectors(const std::string& path) {
  ASSIGN_OR_RETURN(auto source, client::OpenVectorSource(path));
  return ReadAll(*source, path);
}

// Ids arrive as float32 through the readers: exact below 2^24.
absl::StatusOr<Matrix<int32_t>> ToIds(const Matrix<float>& m,
                                      const std::string& path) {
  Matrix<int32_t> ids;
  ids.rows = m.rows;
  ids.cols = m.cols;
  ids.data.reserve(m.data.size());
  for (float v : m.data) {
    if (v < 0 || v >= float(1 << 24)) {
      return absl::InvalidArgumentError(fmt::format(
          "{}: neighbour id {} out of range: use .ivecs ground truth for "
          "bases above 16M rows",
          path, v));
    }
    ids.data.push_back(int32_t(v));
  }
  return ids;
}

absl::StatusOr<Matrix<int32_t>> ReadTruth(const std::string& path) {
  if (path.ends_with(".ivecs")) return ReadIvecs(path);
  ASSIGN_OR_RETURN(Matrix<float> m, ReadVectors(path));
  return ToIds(m, path);
}

// ann-benchmarks stores "euclidean" or "angular" in the root attribute
// "distance"; nullopt when absent or unreadable.
std::optional<std::string> Hdf5DistanceAttribute(const std::string& path) {
  std::optional<std::string> out;
  H5E_BEGIN_TRY {
    hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file >= 0) {
      if (H5Aexists(file, "distance") > 0) {
        hid_t attr = H5Aopen(file, "distance", H5P_DEFAULT);
        hid_t type = H5Aget_type(attr);
        if (H5Tget_class(type) == H5T_STRING) {
          if (H5Tis_variable_str(type) > 0) {
            char* value = nullptr;
            hid_t mem = H5Tcopy(H5T_C_S1);
            H5Tset_size(mem, H5T_VARIABLE);
            H5Tset_cset(mem, H5Tget_cset(type));
            if (H5Aread(attr, mem, &value) >= 0 && value != nullptr) {
              out = std::string(value);
              H5free_memory(value);
            }
            H5Tclose(mem);
          } else {
            std::string value(H5Tget_size(type), '\0');
            if (H5Aread(attr, type, value.data()) >= 0) {
              out = std::string(value.c_str());
            }
          }
        }
        H5Tclose(type);
        H5Aclose(attr);
      }
      H5Fclose(file);
    }
  }
  H5E_END_TRY;
  return out;
}

absl::StatusOr<Metric> MetricFor(const SweepDataOptions& o) {
  if (!o.metric.empty()) return ParseMetric(o.metric);
  if (!o.hdf5_path.empty()) {
    const auto distance = Hdf5DistanceAttribute(o.hdf5_path);
    if (distance == "angular") return Metric::kCosine;
    if (distance == "euclidean" || !distance) return Metric::kL2;
    if (distance == "dot" || distance == "ip") return Metric::kInnerProduct;
    return absl::InvalidArgumentError(fmt::format(
        "{}: distance \"{}\" is not supported: pass --metric l2, ip or "
        "cosine",
        o.hdf5_path, *distance));
  }
  return Metric::kL2;
}

}  // namespace

absl::StatusOr<testing::Dataset> LoadSweepData(const SweepDataOptions& o) {
  const int sources = int(!o.dataset.empty()) + int(!o.base_path.empty()) +
                      int(!o.hdf5_path.empty());
  if (sources != 1) {
    return absl::InvalidArgumentError(
        "name the data once: --dataset NAME, or --base FILE --queries FILE "
        "[--gt FILE], or --hdf5 FILE");
  }
  testing::Dataset ds;
  if (!o.dataset.empty()) {
    ASSIGN_OR_RETURN(ds, LoadDatasetByName(o.dataset));
    if (!o.metric.empty()) {
      ASSIGN_OR_RETURN(Metric m, ParseMetric(o.metric));
      if (m != ds.metric) {
        return absl::InvalidArgumentError(
            fmt::format("dataset {} is searched with {}: leave out --metric",
                        o.dataset, MetricName(ds.metric)));
      }
    }
  } else {
    ASSIGN_OR_RETURN(ds.metric, MetricFor(o));
    if (!o.base_path.empty()) {
      if (o.queries_path.empty()) {
        return absl::InvalidArgumentError(
            "--base needs --queries FILE (the query vectors)");
      }
      ASSIGN_OR_RETURN(ds.base, ReadVectors(o.base_path));
      ASSIGN_OR_RETURN(ds.queries, ReadVectors(o.queries_path));
      if (!o.truth_path.empty()) {
        ASSIGN_OR_RETURN(ds.truth, ReadTruth(o.truth_path));
      }
      ds.name = std::filesystem::path(o.base_path).stem().string();
    } else {
      auto read = [&](const char* name) -> absl::StatusOr<Matrix<float>> {
        ASSIGN_OR_RETURN(auto source,
                         client::OpenHdf5Source(o.hdf5_path, name));
        return ReadAll(*source, o.hdf5_path + ":" + name);
      };
      ASSIGN_OR_RETURN(ds.base, read("train"));
      ASSIGN_OR_RETURN(ds.queries, read("test"));
      auto neighbors = read("neighbors");
      if (neighbors.ok()) {
        ASSIGN_OR_RETURN(ds.truth, ToIds(*neighbors, o.hdf5_path));
      }
      ds.name = std::filesystem::path(o.hdf5_path).stem().string();
    }
    if (ds.base.cols != ds.queries.cols) {
      return absl::InvalidArgumentError(fmt::format(
          "base vectors have {} dimensions but queries {}: pass matching "
          "files",
          ds.base.cols, ds.queries.cols));
    }
  }
  if (o.max_queries > 0 && ds.queries.rows > o.max_queries) {
    ds.queries.rows = o.max_queries;
    ds.queries.data.resize(o.max_queries * ds.queries.cols);
    if (ds.truth.rows > o.max_queries) {
      ds.truth.rows = o.max_queries;
      ds.truth.data.resize(o.max_queries * ds.truth.cols);
    }
  }
  const int need = std::min<int>(o.truth_k, int(ds.base.rows));
  if (ds.truth.rows != ds.queries.rows || ds.truth.cols < need) {
    if (ds.truth.rows != 0) {
      std::cerr << fmt::format(
          "ground truth has {} x {} ids, need {} x {}: computing it\n",
          ds.truth.rows, ds.truth.cols, ds.queries.rows, need);
    }
    std::cerr << fmt::format("computing exact ground truth ({} x {})...\n",
                             ds.queries.rows, need);
    ds.truth = ExactKnn(ds.base, ds.queries, need, ds.metric);
  }
  return ds;
}

}  // namespace qvdb::bench
