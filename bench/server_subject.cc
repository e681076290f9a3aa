#include "bench/server_subject.h"

#include <fmt/format.h>

#include <chrono>
#include <span>

#include "client/client.h"
#include "client/ingester.h"
#include "base/status_macros.h"
#include "proto/metric_conversion.h"

namespace qvdb::bench {
namespace {

using Clock = std::chrono::steady_clock;
namespace v1 = ::qvdb::v1;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

class ServerSubject final : public SweepSubject {
 public:
  ServerSubject(std::unique_ptr<client::Client> client, std::string collection,
                IndexSpec spec, int dim, Metric metric)
      : client_(std::move(client)),
        collection_(std::move(collection)),
        spec_(std::move(spec)),
        dim_(dim),
        metric_(metric) {}

  ~ServerSubject() override {
    if (created_) client_->DropCollection(collection_).IgnoreError();
  }

  std::string system() const override { return "qvdb-server"; }
  std::string label() const override { return spec_.ToString(); }

  // The server trains on the rows it holds, so rows go in first; `train`
  // and `threads` are the server's business.
  absl::StatusOr<BuildFigures> Build(const Matrix<float>& train,
                                     const Matrix<float>& base,
                                     int threads) override {
    RETURN_IF_ERROR(client_
                        ->CreateCollection(collection_, uint32_t(dim_),
                                           MetricToProto(metric_),
                                           spec_.ToString())
                        .status());
    created_ = true;
    BuildFigures f;
    auto t0 = Clock::now();
    client::Ingester ingester(client_.get(), collection_, {});
    for (size_t i = 0; i < base.rows; ++i) {
      v1::Row row;
      *row.mutable_id() = client::MakeId(uint64_t(i));
      row.mutable_vector()->Add(base.row(i), base.row(i) + dim_);
      RETURN_IF_ERROR(ingester.Add(std::move(row)));
    }
    RETURN_IF_ERROR(ingester.Finish().status());
    f.add_seconds = Since(t0);
    t0 = Clock::now();
    RETURN_IF_ERROR(client_->Train(collection_).status());
    f.train_seconds = Since(t0);
    return f;
  }

  absl::StatusOr<Footprint> Measure() const override {
    ASSIGN_OR_RETURN(v1::CollectionDescription d,
                     client_->DescribeCollection(collection_));
    Footprint f;
    f.ram_bytes_per_vector = d.ram_bytes_per_vector();
    f.ram_how = "server's DescribeCollection: ram_bytes_per_vector";
    // The server's own figure: RocksDB's estimate for the collection plus
    // its refine file, per live row.
    f.disk_bytes_per_vector = d.disk_bytes_per_vector();
    f.disk_how =
        "server's DescribeCollection: disk_bytes_per_vector (RocksDB's "
        "estimate for the collection + the refine file, per live row)";
    ASSIGN_OR_RETURN(v1::GetStatsResponse stats,
                     client_->GetStats(collection_));
    f.other_process_rss_bytes = stats.server().process_rss_bytes();
    return f;
  }

  std::vector<Knobs> KnobGrid(const KnobLists& lists) const override {
    return QvdbKnobGrid(spec_, lists);
  }

  absl::Status Search(const float* queries, size_t nq, int k,
                      const Knobs& knobs, int threads,
                      int64_t* ids) const override {
    v1::SearchParams params;
    params.set_k(k);
    params.set_nprobe(knobs.nprobe);
    params.set_refine_factor(knobs.refine_factor);
    params.set_ram_refine_factor(knobs.ram_refine_factor);
    auto fill = [&](const auto& hits, int64_t* out) {
      for (int j = 0; j < k; ++j) {
        out[j] = j < int(hits.size()) ? int64_t(hits[j].id().u64()) : -1;
      }
    };
    if (nq == 1) {
      ASSIGN_OR_RETURN(
          std::vector<v1::Hit> hits,
          client_->Search(collection_, std::span<const float>(queries, dim_),
                          params));
      fill(hits, ids);
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(
        std::vector<v1::SearchResult> results,
        client_->SearchBatch(collection_,
                             std::span<const float>(queries, nq * dim_), dim_,
                             params));
    if (results.size() != nq) {
      return absl::InternalError(
          fmt::format("server answered {} result lists for {} queries",
                      results.size(), nq));
    }
    for (size_t q = 0; q < nq; ++q) fill(results[q].hits(), ids + q * k);
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<client::Client> client_;
  std::string collection_;
  IndexSpec spec_;
  int dim_;
  Metric metric_;
  bool created_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SweepSubject>> MakeServerSubject(
    const std::string& server, const std::string& collection,
    const IndexSpec& spec, int dim, Metric metric) {
  client::ClientOptions options;
  options.server = server;
  // Training a large collection takes minutes.
  options.timeout = std::chrono::milliseconds(3600 * 1000);
  return std::make_unique<ServerSubject>(client::Client::Connect(options),
                                         collection, spec, dim, metric);
}

}  // namespace qvdb::bench
