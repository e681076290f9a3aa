// QvdbService: the qvdb.v1.Qvdb gRPC service (proto/qvdb/v1/qvdb.proto),
// implemented by calling the collection engine.
//
// Contract:
// - Every call is checked before any work: first the message form and the
//   service's limits (Limits, docs/api.md "Limits"), then the
//   engine's own rules. Errors keep the engine's status code and message;
//   absl::Status becomes grpc::Status in exactly one place (ToGrpcStatus in
//   grpc_service.cc).
// - A call whose deadline has passed or that was cancelled before it ran
//   does no work (DEADLINE_EXCEEDED / CANCELLED). An Ingest stream checks
//   for cancellation between batches; engine calls themselves are not
//   interrupted (a batch is all or nothing).
// - While a snapshot restore swaps the engine, and after Shutdown, calls get
//   UNAVAILABLE (engine_holder.h).
// - With API keys (auth.h), each call is first checked for a key whose
//   role allows the method: UNAUTHENTICATED or PERMISSION_DENIED, no work.
// - Each call is counted and timed per method and status code
//   (request_metrics.h) and logged as one key=value line: at debug level
//   when it succeeds, at info when it fails or is an admin action (create,
//   drop, train, compact, snapshots), at error for INTERNAL, DATA_LOSS and
//   UNKNOWN.
//
// Thread safety: gRPC calls the methods from many threads at once; the
// service's own state is the engine holder and the metrics, both
// thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"
#include "qvdb/v1/qvdb.grpc.pb.h"
#include "server/auth.h"
#include "server/engine_holder.h"
#include "server/metrics_text.h"
#include "server/request_metrics.h"
#include "server/engine/limits.h"

namespace qvdb {

// The one conversion from our errors to gRPC's (same code, same message).
grpc::Status ToGrpcStatus(const absl::Status& status);

class QvdbService final : public v1::Qvdb::Service {
 public:
  // `holder` and `keys` must outlive the service; `keys` null: no
  // authentication.
  QvdbService(EngineHolder* holder, const Limits& limits,
              const ApiKeys* keys = nullptr);

  // The figures of the Prometheus endpoint (metrics_text.h): per-method
  // counts and histograms, collection sizes, process memory.
  MetricsSnapshot CollectMetrics() const;

  // Ingest streams stop at their next message with UNAVAILABLE (what was
  // acknowledged is stored; the client resends the rest to the next
  // server), so that a shutdown need not wait for a bulk load to end.
  void BeginShutdown() { shutting_down_.store(true); }

  grpc::Status CreateCollection(
      grpc::ServerContext* context, const v1::CreateCollectionRequest* request,
      v1::CreateCollectionResponse* response) override;
  grpc::Status ListCollections(grpc::ServerContext* context,
                               const v1::ListCollectionsRequest* request,
                               v1::ListCollectionsResponse* response) override;
  grpc::Status DescribeCollection(
      grpc::ServerContext* context,
      const v1::DescribeCollectionRequest* request,
      v1::DescribeCollectionResponse* response) override;
  grpc::Status DropCollection(grpc::ServerContext* context,
                              const v1::DropCollectionRequest* request,
                              v1::DropCollectionResponse* response) override;
  grpc::Status Upsert(grpc::ServerContext* context,
                      const v1::UpsertRequest* request,
                      v1::UpsertResponse* response) override;
  grpc::Status Delete(grpc::ServerContext* context,
                      const v1::DeleteRequest* request,
                      v1::DeleteResponse* response) override;
  grpc::Status Get(grpc::ServerContext* context, const v1::GetRequest* request,
                   v1::GetResponse* response) override;
  grpc::Status SampleVectors(grpc::ServerContext* context,
                             const v1::SampleVectorsRequest* request,
                             v1::SampleVectorsResponse* response) override;
  grpc::Status Ingest(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::IngestAck, v1::IngestRequest>* stream)
      override;
  grpc::Status Search(grpc::ServerContext* context,
                      const v1::SearchRequest* request,
                      v1::SearchResponse* response) override;
  grpc::Status Count(grpc::ServerContext* context,
                     const v1::CountRequest* request,
                     v1::CountResponse* response) override;
  grpc::Status SearchBatch(grpc::ServerContext* context,
                           const v1::SearchBatchRequest* request,
                           v1::SearchBatchResponse* response) override;
  grpc::Status AddField(grpc::ServerContext* context,
                        const v1::AddFieldRequest* request,
                        v1::AddFieldResponse* response) override;
  grpc::Status Train(grpc::ServerContext* context,
                     const v1::TrainRequest* request,
                     v1::TrainResponse* response) override;
  grpc::Status Compact(grpc::ServerContext* context,
                       const v1::CompactRequest* request,
                       v1::CompactResponse* response) override;
  grpc::Status CreateSnapshot(grpc::ServerContext* context,
                              const v1::CreateSnapshotRequest* request,
                              v1::CreateSnapshotResponse* response) override;
  grpc::Status ListSnapshots(grpc::ServerContext* context,
                             const v1::ListSnapshotsRequest* request,
                             v1::ListSnapshotsResponse* response) override;
  grpc::Status DeleteSnapshot(grpc::ServerContext* context,
                              const v1::DeleteSnapshotRequest* request,
                              v1::DeleteSnapshotResponse* response) override;
  grpc::Status RestoreSnapshot(grpc::ServerContext* context,
                               const v1::RestoreSnapshotRequest* request,
                               v1::RestoreSnapshotResponse* response) override;
  grpc::Status GetStats(grpc::ServerContext* context,
                        const v1::GetStatsRequest* request,
                        v1::GetStatsResponse* response) override;

 private:
  // Runs `body` for `method`: the cancellation and deadline check, the
  // in-flight count, timing, logging and the status conversion.
  // `collection` is read after `body` ran (Ingest learns it from the
  // stream), hence a reference.
  template <typename Body>
  grpc::Status Handle(int method, grpc::ServerContextBase* context,
                      const std::string& collection, Body&& body);

  EngineHolder* const holder_;
  const ApiKeys* const keys_;
  const Limits limits_;
  const std::chrono::steady_clock::time_point started_;
  RequestMetrics metrics_;
  std::atomic<uint64_t> in_flight_{0};
  std::atomic<bool> shutting_down_{false};
};

}  // namespace qvdb
