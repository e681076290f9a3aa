// Client: typed C++ calls over qvdb's gRPC API (proto/qvdb/v1/qvdb.proto).
//
// Contract:
// - Every call returns absl::Status / absl::StatusOr carrying the server's
//   status code and message unchanged (gRPC and absl share their codes).
// - Each attempt of a call has a deadline (ClientOptions::timeout). A call
//   that ends UNAVAILABLE (no connection, server shutting down or restoring
//   a snapshot) is retried with exponential backoff and jitter, up to
//   ClientOptions::max_attempts attempts. Every qvdb call is safe to retry:
//   upserts replace, deletes of missing ids are counted, reads have no
//   effect; a retried create may answer ALREADY_EXISTS when the first
//   attempt did create the collection.
// - Bulk loads go through Ingester (client/ingester.h).
//
// Thread safety: a Client may be shared by many threads (the gRPC channel
// and stub are thread-safe; the Client holds no mutable state).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "qvdb/v1/qvdb.grpc.pb.h"

namespace qvdb::client {

namespace v1 = ::qvdb::v1;

// Where the server listens unless told otherwise (loopback only).
inline constexpr int kDefaultPort = 7734;
inline constexpr std::string_view kDefaultServer = "127.0.0.1:7734";

struct ClientOptions {
  // host:port of the server. Default: kDefaultServer.
  std::string server = std::string(kDefaultServer);
  // Deadline of one attempt of a unary call. Default: 60 s (training a
  // large collection can take longer: raise it for Train).
  std::chrono::milliseconds timeout{60000};
  // Attempts of a call that ends UNAVAILABLE (1: no retry). Default: 5.
  int max_attempts = 5;
  // Backoff before the second attempt, doubled after each, capped at
  // max_backoff; each wait is drawn from [backoff/2, backoff].
  // Defaults: 100 ms, 2 s.
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{2000};
  // Largest message sent or received. Default: 64 MiB (the server's limit).
  int max_message_bytes = 64 << 20;
  // API key sent with every call on the channel Connect makes (streams
  // too) as `authorization: Bearer <key>`; empty: none. Default: none.
  std::string api_key;
  // TLS: connect with TLS, verifying the server against tls_ca_pem (PEM
  // root certificates; empty: the system's roots). Default: plaintext.
  bool tls = false;
  std::string tls_ca_pem;
};

// Reads a PEM file (for ClientOptions::tls_ca_pem); NotFound when it
// cannot be read, InvalidArgument when it holds no PEM block.
absl::StatusOr<std::string> ReadPemFile(const std::string& path);

// Converts a gRPC status to an absl::Status (same code, same message).
absl::Status FromGrpcStatus(const grpc::Status& status);

// Ids: a u64 or a string (the oneof of v1::Id).
v1::Id MakeId(uint64_t id);
v1::Id MakeId(std::string id);
// 42 or "doc-7" (strings quoted), for messages and tables.
std::string IdToString(const v1::Id& id);

// The backoff before attempt `attempt` (2, 3, ...) without jitter.
std::chrono::milliseconds BackoffFor(const ClientOptions& options, int attempt);

class Client {
 public:
  // Creates a channel to options.server (TLS when options.tls, else
  // plaintext). Connects lazily: an unreachable server shows up as
  // UNAVAILABLE on the first call, after the retries.
  static std::unique_ptr<Client> Connect(const ClientOptions& options);
  // Over an existing channel (tests, custom credentials).
  static std::unique_ptr<Client> FromChannel(
      std::shared_ptr<grpc::Channel> channel, const ClientOptions& options);

  // --- Collections ---
  // `fields`: declared payload fields (docs/filter.md); none by default.
  absl::StatusOr<v1::CollectionInfo> CreateCollection(
      std::string_view name, uint32_t dimension, v1::Metric metric,
      std::string_view index_spec,
      const std::vector<v1::FieldSpec>& fields = {});
  absl::StatusOr<std::vector<v1::CollectionDescription>> ListCollections();
  absl::StatusOr<v1::CollectionDescription> DescribeCollection(
      std::string_view name);
  absl::Status DropCollection(std::string_view name);
  // Adds a field to an existing collection, filled from the stored rows'
  // JSON payloads (docs/filter.md); returns when every row is indexed.
  absl::StatusOr<v1::AddFieldResponse> AddField(std::string_view collection,
                                                const v1::FieldSpec& field);

  // --- Rows ---
  absl::StatusOr<v1::UpsertResponse> Upsert(const v1::UpsertRequest& request);
  absl::StatusOr<v1::DeleteResponse> Delete(std::string_view collection,
                                            std::span<const v1::Id> ids);
  absl::StatusOr<std::vector<v1::GetResult>> Get(std::string_view collection,
                                                 std::span<const v1::Id> ids,
                                                 bool with_payload,
                                                 bool with_vector);
  // --- Rows chosen by a filter (docs/filter.md, the text form) ---
  // Rows that pass `filter_expr`; every row when it is empty.
  absl::StatusOr<uint64_t> Count(std::string_view collection,
                                 std::string_view filter_expr);
  // Up to `limit` rows that pass `filter_expr` (0: the server's default,
  // 100); GetResponse.more says whether more pass.
  absl::StatusOr<v1::GetResponse> GetWhere(std::string_view collection,
                                           std::string_view filter_expr,
                                           uint32_t limit, bool with_payload,
                                           bool with_vector);
  // Deletes every row that passes `filter_expr` (required).
  absl::StatusOr<v1::DeleteResponse> DeleteWhere(std::string_view collection,
                                                 std::string_view filter_expr);
  // Up to max_rows stored vectors, evenly spread over the collection.
  absl::StatusOr<v1::SampleVectorsResponse> SampleVectors(
      std::string_view collection, uint32_t max_rows);

  // --- Search ---
  absl::StatusOr<std::vector<v1::Hit>> Search(std::string_view collection,
                                              std::span<const float> query,
                                              const v1::SearchParams& params);
  // queries holds nq rows of `dim` floats; one result list per query.
  absl::StatusOr<std::vector<v1::SearchResult>> SearchBatch(
      std::string_view collection, std::span<const float> queries, int dim,
      const v1::SearchParams& params);

  // --- Administration ---
  absl::StatusOr<v1::TrainResponse> Train(std::string_view collection);
  absl::StatusOr<v1::CompactResponse> Compact(std::string_view collection);
  absl::StatusOr<v1::SnapshotInfo> CreateSnapshot(std::string_view name);
  absl::StatusOr<std::vector<v1::SnapshotInfo>> ListSnapshots();
  absl::Status DeleteSnapshot(std::string_view name);
  absl::StatusOr<v1::RestoreSnapshotResponse> RestoreSnapshot(
      std::string_view name);
  // collection empty: every collection.
  absl::StatusOr<v1::GetStatsResponse> GetStats(std::string_view collection);

  const ClientOptions& options() const { return options_; }
  v1::Qvdb::Stub* stub() const { return stub_.get(); }

 private:
  Client(std::shared_ptr<grpc::Channel> channel, const ClientOptions& options);

  // One unary call with deadline and retries.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(
      grpc::Status (v1::Qvdb::Stub::*method)(grpc::ClientContext*,
                                             const Request&, Response*),
      const Request& request) const;

  const ClientOptions options_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::Qvdb::Stub> stub_;
};

// Sleeps the backoff (with jitter) before attempt `attempt`.
void SleepBackoff(const ClientOptions& options, int attempt);

}  // namespace qvdb::client
