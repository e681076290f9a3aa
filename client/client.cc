#include "client/client.h"

#include <fmt/format.h>
#include <grpcpp/support/client_interceptor.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>
#include <utility>

namespace qvdb::client {

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  // gRPC and absl number their codes alike (both follow google.rpc.Code).
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

v1::Id MakeId(uint64_t id) {
  v1::Id out;
  out.set_u64(id);
  return out;
}

v1::Id MakeId(std::string id) {
  v1::Id out;
  out.set_str(std::move(id));
  return out;
}

std::string IdToString(const v1::Id& id) {
  switch (id.kind_case()) {
    case v1::Id::kU64:
      return std::to_string(id.u64());
    case v1::Id::kStr:
      return fmt::format("\"{}\"", id.str());
    case v1::Id::KIND_NOT_SET:
      break;
  }
  return "(no id)";
}

std::chrono::milliseconds BackoffFor(const ClientOptions& options,
                                     int attempt) {
  auto backoff = options.initial_backoff;
  for (int i = 2; i < attempt && backoff < options.max_backoff; ++i) {
    backoff *= 2;
  }
  return std::min(backoff, options.max_backoff);
}

void SleepBackoff(const ClientOptions& options, int attempt) {
  const auto backoff = BackoffFor(options, attempt);
  // Jitter in [backoff/2, backoff] so that clients cut off together do not
  // come back together. The clock's low bits are random enough for that.
  const auto ticks = std::chrono::steady_clock::now().time_since_epoch();
  const double frac =
      static_cast<double>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(ticks).count() %
          1000) /
      1000.0;
  const auto wait = std::chrono::duration_cast<std::chrono::microseconds>(
      backoff * (0.5 + 0.5 * frac));
  std::this_thread::sleep_for(wait);
}

namespace {

// The elements of a repeated field, moved out (payloads are not copied).
template <typename T>
std::vector<T> MoveOut(google::protobuf::RepeatedPtrField<T>* field) {
  return std::vector<T>(std::make_move_iterator(field->begin()),
                        std::make_move_iterator(field->end()));
}

// Adds `authorization: Bearer <key>` to every call of the channel, unary
// or streaming, so that no caller of stub() can forget it.
class ApiKeyInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit ApiKeyInterceptor(std::shared_ptr<const std::string> header)
      : header_(std::move(header)) {}
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::
                PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace("authorization", *header_);
    }
    methods->Proceed();
  }

 private:
  const std::shared_ptr<const std::string> header_;
};

class ApiKeyInterceptorFactory
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit ApiKeyInterceptorFactory(const std::string& key)
      : header_(std::make_shared<const std::string>("Bearer " + key)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    // gRPC owns and deletes the interceptor (its API, not ours).
    return new ApiKeyInterceptor(header_);
  }

 private:
  const std::shared_ptr<const std::string> header_;
};

std::shared_ptr<grpc::Channel> MakeChannel(const ClientOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  // We retry UNAVAILABLE ourselves (with our backoff); gRPC's own retries
  // would buffer every call for nothing.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls_ca_pem;
    credentials = grpc::SslCredentials(ssl);
  }
  if (options.api_key.empty()) {
    return grpc::CreateCustomChannel(options.server, credentials, args);
  }
  std::vector<
      std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(
      std::make_unique<ApiKeyInterceptorFactory>(options.api_key));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      options.server, credentials, args, std::move(interceptors));
}

}  // namespace

absl::StatusOr<std::string> ReadPemFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        fmt::format("cannot read the certificate file {}", path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(
        fmt::format("{} is not a PEM file (no -----BEGIN line); give the CA "
                    "certificate in PEM",
                    path));
  }
  return text.str();
}

Client::Client(std::shared_ptr<grpc::Channel> channel,
               const ClientOptions& options)
    : options_(options),
      channel_(std::move(channel)),
      stub_(v1::Qvdb::NewStub(channel_)) {}

std::unique_ptr<Client> Client::Connect(const ClientOptions& options) {
  return FromChannel(MakeChannel(options), options);
}

std::unique_ptr<Client> Client::FromChannel(
    std::shared_ptr<grpc::Channel> channel, const ClientOptions& options) {
  return std::unique_ptr<Client>(new Client(std::move(channel), options));
}

template <typename Request, typename Response>
absl::StatusOr<Response> Client::Call(
    grpc::Status (v1::Qvdb::Stub::*method)(grpc::ClientContext*, const Request&,
                                           Response*),
    const Request& request) const {
  const int attempts = std::max(1, options_.max_attempts);
  grpc::Status status;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    if (attempt > 1) SleepBackoff(options_, attempt);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + options_.timeout);
    Response response;
    status = (stub_.get()->*method)(&context, request, &response);
    if (status.ok()) return response;
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) break;
  }
  absl::Status out = FromGrpcStatus(status);
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE && attempts > 1) {
    return absl::UnavailableError(
        fmt::format("{} (server {}, after {} attempts)", status.error_message(),
                    options_.server, attempts));
  }
  return out;
}

absl::StatusOr<v1::CollectionInfo> Client::CreateCollection(
    std::string_view name, uint32_t dimension, v1::Metric metric,
    std::string_view index_spec, const std::vector<v1::FieldSpec>& fields) {
  v1::CreateCollectionRequest request;
  request.set_name(std::string(name));
  request.set_dimension(dimension);
  request.set_metric(metric);
  request.set_index_spec(std::string(index_spec));
  for (const v1::FieldSpec& f : fields) *request.add_fields() = f;
  auto response = Call(&v1::Qvdb::Stub::CreateCollection, request);
  if (!response.ok()) return response.status();
  return response->collection();
}

absl::StatusOr<v1::AddFieldResponse> Client::AddField(
    std::string_view collection, const v1::FieldSpec& field) {
  v1::AddFieldRequest request;
  request.set_collection(std::string(collection));
  *request.mutable_field() = field;
  return Call(&v1::Qvdb::Stub::AddField, request);
}

absl::StatusOr<std::vector<v1::CollectionDescription>>
Client::ListCollections() {
  auto response =
      Call(&v1::Qvdb::Stub::ListCollections, v1::ListCollectionsRequest());
  if (!response.ok()) return response.status();
  return MoveOut(response->mutable_collections());
}

absl::StatusOr<v1::CollectionDescription> Client::DescribeCollection(
    std::string_view name) {
  v1::DescribeCollectionRequest request;
  request.set_name(std::string(name));
  auto response = Call(&v1::Qvdb::Stub::DescribeCollection, request);
  if (!response.ok()) return response.status();
  return response->collection();
}

absl::Status Client::DropCollection(std::string_view name) {
  v1::DropCollectionRequest request;
  request.set_name(std::string(name));
  return Call(&v1::Qvdb::Stub::DropCollection, request).status();
}

absl::StatusOr<v1::UpsertResponse> Client::Upsert(
    const v1::UpsertRequest& request) {
  return Call(&v1::Qvdb::Stub::Upsert, request);
}

absl::StatusOr<v1::DeleteResponse> Client::Delete(std::string_view collection,
                                                  std::span<const v1::Id> ids) {
  v1::DeleteRequest request;
  request.set_collection(std::string(collection));
  request.mutable_ids()->Add(ids.begin(), ids.end());
  return Call(&v1::Qvdb::Stub::Delete, request);
}

absl::StatusOr<std::vector<v1::GetResult>> Client::Get(
    std::string_view collection, std::span<const v1::Id> ids, bool with_payload,
    bool with_vector) {
  v1::GetRequest request;
  request.set_collection(std::string(collection));
  request.mutable_ids()->Add(ids.begin(), ids.end());
  request.set_with_payload(with_payload);
  request.set_with_vector(with_vector);
  auto response = Call(&v1::Qvdb::Stub::Get, request);
  if (!response.ok()) return response.status();
  return MoveOut(response->mutable_results());
}

absl::StatusOr<uint64_t> Client::Count(std::string_view collection,
                                       std::string_view filter_expr) {
  v1::CountRequest request;
  request.set_collection(std::string(collection));
  request.set_filter_expr(std::string(filter_expr));
  auto response = Call(&v1::Qvdb::Stub::Count, request);
  if (!response.ok()) return response.status();
  return response->count();
}

absl::StatusOr<v1::GetResponse> Client::GetWhere(std::string_view collection,
                                                 std::string_view filter_expr,
                                                 uint32_t limit,
                                                 bool with_payload,
                                                 bool with_vector) {
  v1::GetRequest request;
  request.set_collection(std::string(collection));
  request.set_filter_expr(std::string(filter_expr));
  request.set_limit(limit);
  request.set_with_payload(with_payload);
  request.set_with_vector(with_vector);
  return Call(&v1::Qvdb::Stub::Get, request);
}

absl::StatusOr<v1::DeleteResponse> Client::DeleteWhere(
    std::string_view collection, std::string_view filter_expr) {
  v1::DeleteRequest request;
  request.set_collection(std::string(collection));
  request.set_filter_expr(std::string(filter_expr));
  return Call(&v1::Qvdb::Stub::Delete, request);
}

absl::StatusOr<v1::SampleVectorsResponse> Client::SampleVectors(
    std::string_view collection, uint32_t max_rows) {
  v1::SampleVectorsRequest request;
  request.set_collection(std::string(collection));
  request.set_max_rows(max_rows);
  return Call(&v1::Qvdb::Stub::SampleVectors, request);
}

absl::StatusOr<std::vector<v1::Hit>> Client::Search(
    std::string_view collection, std::span<const float> query,
    const v1::SearchParams& params) {
  v1::SearchRequest request;
  request.set_collection(std::string(collection));
  request.mutable_vector()->Add(query.begin(), query.end());
  *request.mutable_params() = params;
  auto response = Call(&v1::Qvdb::Stub::Search, request);
  if (!response.ok()) return response.status();
  return MoveOut(response->mutable_hits());
}

absl::StatusOr<std::vector<v1::SearchResult>> Client::SearchBatch(
    std::string_view collection, std::span<const float> queries, int dim,
    const v1::SearchParams& params) {
  if (dim <= 0 || queries.size() % static_cast<size_t>(dim) != 0) {
    return absl::InvalidArgumentError(fmt::format(
        "SearchBatch: {} floats is not a whole number of {}-d queries",
        queries.size(), dim));
  }
  v1::SearchBatchRequest request;
  request.set_collection(std::string(collection));
  for (size_t off = 0; off < queries.size(); off += dim) {
    request.add_queries()->mutable_values()->Add(queries.begin() + off,
                                                 queries.begin() + off + dim);
  }
  *request.mutable_params() = params;
  auto response = Call(&v1::Qvdb::Stub::SearchBatch, request);
  if (!response.ok()) return response.status();
  return MoveOut(response->mutable_results());
}

absl::StatusOr<v1::TrainResponse> Client::Train(std::string_view collection) {
  v1::TrainRequest request;
  request.set_collection(std::string(collection));
  return Call(&v1::Qvdb::Stub::Train, request);
}

absl::StatusOr<v1::CompactResponse> Client::Compact(
    std::string_view collection) {
  v1::CompactRequest request;
  request.set_collection(std::string(collection));
  return Call(&v1::Qvdb::Stub::Compact, request);
}

absl::StatusOr<v1::SnapshotInfo> Client::CreateSnapshot(std::string_view name) {
  v1::CreateSnapshotRequest request;
  request.set_name(std::string(name));
  auto response = Call(&v1::Qvdb::Stub::CreateSnapshot, request);
  if (!response.ok()) return response.status();
  return response->snapshot();
}

absl::StatusOr<std::vector<v1::SnapshotInfo>> Client::ListSnapshots() {
  auto response =
      Call(&v1::Qvdb::Stub::ListSnapshots, v1::ListSnapshotsRequest());
  if (!response.ok()) return response.status();
  return MoveOut(response->mutable_snapshots());
}

absl::Status Client::DeleteSnapshot(std::string_view name) {
  v1::DeleteSnapshotRequest request;
  request.set_name(std::string(name));
  return Call(&v1::Qvdb::Stub::DeleteSnapshot, request).status();
}

absl::StatusOr<v1::RestoreSnapshotResponse> Client::RestoreSnapshot(
    std::string_view name) {
  v1::RestoreSnapshotRequest request;
  request.set_name(std::string(name));
  return Call(&v1::Qvdb::Stub::RestoreSnapshot, request);
}

absl::StatusOr<v1::GetStatsResponse> Client::GetStats(
    std::string_view collection) {
  v1::GetStatsRequest request;
  request.set_collection(std::string(collection));
  return Call(&v1::Qvdb::Stub::GetStats, request);
}

}  // namespace qvdb::client
