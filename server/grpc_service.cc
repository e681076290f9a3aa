#include "server/grpc_service.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <ctime>
#include <span>
#include <utility>
#include <vector>

#include "index/kernels/simd_level.h"
#include "base/status_macros.h"
#include "server/engine/exception_border.h"
#include "server/engine/log_escape.h"
#include "server/filter_convert.h"
#include "server/proto_convert.h"

#ifndef QVDB_VERSION
#define QVDB_VERSION "unknown"
#endif

namespace qvdb {
namespace {

// Methods, in the order of RequestMetrics' indices.
enum Method : int {
  kCreateCollection,
  kListCollections,
  kDescribeCollection,
  kDropCollection,
  kUpsert,
  kDelete,
  kGet,
  kIngest,
  kSearch,
  kSearchBatch,
  kTrain,
  kCompact,
  kCreateSnapshot,
  kListSnapshots,
  kDeleteSnapshot,
  kRestoreSnapshot,
  kGetStats,
  kSampleVectors,
  kAddField,
  kCount,
};

constexpr std::array<std::string_view, 20> kMethodNames = {"CreateCollection",
                                                           "ListCollections",
                                                           "DescribeCollection",
                                                           "DropCollection",
                                                           "Upsert",
                                                           "Delete",
                                                           "Get",
                                                           "Ingest",
                                                           "Search",
                                                           "SearchBatch",
                                                           "Train",
                                                           "Compact",
                                                           "CreateSnapshot",
                                                           "ListSnapshots",
                                                           "DeleteSnapshot",
                                                           "RestoreSnapshot",
                                                           "GetStats",
                                                           "SampleVectors",
                                                           "AddField",
                                                           "Count"};

std::vector<std::string> MethodNames() {
  return std::vector<std::string>(kMethodNames.begin(), kMethodNames.end());
}

absl::Status RequireName(const std::string& name, std::string_view field) {
  if (name.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("{} is empty; name a collection", field));
  }
  return absl::OkStatus();
}

// The text and structured filter of a Get, Delete or Count request.
template <typename Request>
absl::StatusOr<RowFilter> RequestFilter(const Request& request) {
  return RowFilterFromProto(
      request.filter_expr(),
      request.has_structured_filter() ? &request.structured_filter() : nullptr);
}

// Get and Delete take ids or a filter: never both, never neither (an empty
// delete must not mean "every row").
absl::Status IdsOrFilter(std::string_view call, size_t ids,
                         const RowFilter& filter) {
  if (ids > 0 && !filter.empty()) {
    return absl::InvalidArgumentError(fmt::format(
        "a {} takes ids or a filter (filter_expr, structured_filter), not "
        "both; pick one",
        call));
  }
  if (ids == 0 && filter.empty()) {
    return absl::InvalidArgumentError(fmt::format(
        "a {} needs ids or a filter (filter_expr, structured_filter); neither "
        "was given{}",
        call,
        call == "delete" ? " (an empty delete never means every row: drop "
                           "the collection for that)"
                         : ""));
  }
  return absl::OkStatus();
}

std::string UtcStamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// Calls logged at info even when they succeed: they change what the server
// holds as a whole, and operators want them in the log.
bool IsAdminAction(int method) {
  switch (method) {
    case kCreateCollection:
    case kDropCollection:
    case kAddField:
    case kTrain:
    case kCompact:
    case kCreateSnapshot:
    case kDeleteSnapshot:
    case kRestoreSnapshot:
      return true;
    default:
      return false;
  }
}

// Faults of the server rather than of the request.
bool IsServerFault(absl::StatusCode code) {
  return code == absl::StatusCode::kInternal ||
         code == absl::StatusCode::kDataLoss ||
         code == absl::StatusCode::kUnknown;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC number their codes alike (google.rpc.Code).
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

QvdbService::QvdbService(EngineHolder* holder, const Limits& limits,
                         const ApiKeys* keys)
    : holder_(holder),
      keys_(keys),
      limits_(limits),
      started_(std::chrono::steady_clock::now()),
      metrics_(MethodNames()) {}

template <typename Body>
grpc::Status QvdbService::Handle(int method, grpc::ServerContextBase* context,
                                 const std::string& collection, Body&& body) {
  const auto start = std::chrono::steady_clock::now();
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  const std::string_view name = kMethodNames[method];
  const ApiKeys::Key* caller = nullptr;
  absl::Status status;
  if (keys_ != nullptr) {
    status = keys_->Authorize(context->client_metadata(), name, &caller);
  }
  if (!status.ok()) {
    // Not authorized: no work.
  } else if (context->IsCancelled()) {
    status = absl::CancelledError("the call was cancelled before it ran");
  } else if (context->deadline() <= std::chrono::system_clock::now()) {
    status =
        absl::DeadlineExceededError("the call's deadline passed before it ran");
  } else {
    // The handler's border: no exception reaches gRPC (the gauge below is
    // lowered and the call logged whatever happens).
    status = CatchExceptions(name, body);
  }
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  const double micros = std::chrono::duration<double, std::micro>(
                            std::chrono::steady_clock::now() - start)
                            .count();
  metrics_.Record(method, micros, status.code());
  // One line per call; the key's name, never the key.
  const std::string who =
      caller != nullptr ? fmt::format(" key={}", caller->name) : "";
  if (status.ok()) {
    spdlog::log(
        IsAdminAction(method) ? spdlog::level::info : spdlog::level::debug,
        "rpc={} collection=\"{}\" code=OK micros={:.0f}{}", name,
        LogEscaped(collection), micros, who);
  } else {
    const bool auth_error =
        absl::IsUnauthenticated(status) || absl::IsPermissionDenied(status);
    spdlog::log(
        IsServerFault(status.code()) ? spdlog::level::err : spdlog::level::info,
        "rpc={} collection=\"{}\" code={} micros={:.0f}{}{} error=\"{}\"",
        name, LogEscaped(collection), absl::StatusCodeToString(status.code()),
        micros, who,
        auth_error ? fmt::format(" peer={}", LogEscaped(context->peer())) : "",
        LogEscaped(std::string(status.message()), 1024));
  }
  return ToGrpcStatus(status);
}

MetricsSnapshot QvdbService::CollectMetrics() const {
  MetricsSnapshot s;
  s.version = QVDB_VERSION;
  s.simd_level = std::string(SimdLevelName(ActiveSimdLevel()));
  s.uptime_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_)
          .count();
  s.process_rss_bytes = ProcessRssBytes();
  s.in_flight = in_flight_.load(std::memory_order_relaxed);
  s.methods = metrics_.RawCounts();
  // No engine (restoring a snapshot, shutting down): no collection lines.
  auto engine = holder_->Acquire();
  if (!engine.ok()) return s;
  auto infos = (*engine)->ListCollections();
  if (!infos.ok()) return s;
  for (const CollectionInfo& info : *infos) {
    auto stats = (*engine)->Stats(info.name);
    if (!stats.ok()) continue;  // dropped meanwhile
    s.collections.push_back(
        {info.name, stats->live_rows, stats->indexed_vectors,
         stats->memory_bytes, stats->storage_disk_bytes,
         stats->refine_file_bytes, stats->refine_fetched_from_file,
         stats->refine_fetched_from_storage, stats->ram_refine_scored,
         stats->refine_scored});
  }
  return s;
}

// --- Collections ---

grpc::Status QvdbService::CreateCollection(
    grpc::ServerContext* context, const v1::CreateCollectionRequest* request,
    v1::CreateCollectionResponse* response) {
  return Handle(
      kCreateCollection, context, request->name(), [&]() -> absl::Status {
        RETURN_IF_ERROR(RequireName(request->name(), "name"));
        ASSIGN_OR_RETURN(Metric metric, FromProto(request->metric()));
        CollectionConfig config;
        config.name = request->name();
        config.dim = request->dimension();
        config.metric = metric;
        config.index_spec =
            request->index_spec().empty() ? "Flat" : request->index_spec();
        ASSIGN_OR_RETURN(config.field_schema,
                         FieldSchemaText(request->fields()));
        ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, holder_->Acquire());
        ASSIGN_OR_RETURN(CollectionInfo info, engine->CreateCollection(config));
        ToProto(info, response->mutable_collection());
        return absl::OkStatus();
      });
}

grpc::Status QvdbService::ListCollections(
    grpc::ServerContext* context, const v1::ListCollectionsRequest* request,
    v1::ListCollectionsResponse* response) {
  return Handle(kListCollections, context, "", [&]() -> absl::Status {
    ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, holder_->Acquire());
    ASSIGN_OR_RETURN(std::vector<CollectionInfo> infos,
                     engine->ListCollections());
    for (const CollectionInfo& info : infos) {
      auto stats = engine->Stats(info.name);
      if (absl::IsNotFound(stats.status())) continue;  // dropped meanwhile
      if (!stats.ok()) {
        // Failed to load (its own calls say why): listed, without figures.
        ToProto(info, response->add_collections()->mutable_info());
        continue;
      }
      ToProto(*stats, response->add_collections());
    }
    return absl::OkStatus();
  });
}

grpc::Status QvdbService::DescribeCollection(
    grpc::ServerContext* context, const v1::DescribeCollectionRequest* request,
    v1::DescribeCollectionResponse* response) {
  return Handle(
      kDescribeCollection, context, request->name(), [&]() -> absl::Status {
        RETURN_IF_ERROR(RequireName(request->name(), "name"));
        ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, holder_->Acquire());
        ASSIGN_OR_RETURN(CollectionStats stats, engine->Stats(request->name()));
        ToProto(stats, response->mutable_collection());
        return absl::OkStatus();
      });
}

grpc::Status QvdbService::DropCollection(
    grpc::ServerContext* context, const v1::DropCollectionRequest* request,
    v1::DropCollectionResponse* response) {
  return Handle(
      kDropCollection, context, request->name(), [&]() -> absl::Status {
        RETURN_IF_ERROR(RequireName(request->name(), "name"));
        ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, holder_->Acquire());
        return engine->DropCollection(request->name());
      });
}

// --- Rows ---

grpc::Status QvdbService::Upsert(grpc::ServerContext* context,
                                 const v1::UpsertRequest* request,
                                 v1::UpsertResponse* response) {
  return Handle(kUpsert, context, request->collection(), [&]() -> absl::Status {
    RETURN_IF_ERROR(RequireName(request->collection(), "collection"));
    ASSIGN_OR_RETURN(std::vector<UpsertRow> rows,
                     FromProto(request->rows(), limits_));
    ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, holder_->Acquire());
    ASSIGN_OR_RETURN(WriteSummary summary,
                     engine->Upsert(request->collection(), rows));
    response->set_inserted(summary.inserted);
    response->set_updated(summary.updated);
    return absl::OkStatus();
  });
}

grpc::Status QvdbService::Delete(grpc::ServerContext* context,
                                 const v1::DeleteRequest* request,
                                 v1::DeleteResponse* response) {
  return Handle(kDelete, context, request->collection(), [&]() -> absl::Status {
    RETURN_IF_ERROR(RequireName(request->collection(), "collection"));
    ASSIGN_OR_RETURN(RowFilter filter, RequestFilter(*request));
    ASSIGN_OR_RETURN(std::vector<UserId> ids,
                     FromProto(request->ids(), "ids", limits_));
    RETURN_IF_ERROR(IdsOrFilter("delete", ids.size(), filter));
    ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, holder_->Acquire());
    ASSIGN_OR_RETURN(WriteSummary summary,
                     filter.empty()
                         ? engine->Delete(request->collection(), ids)
                         : engine->DeleteWhere(request->collection(), filter));
    response->set_deleted(summary.deleted);
    response->set_not_found(summary.not_found);
    return absl::OkStatus();
  });
}

grpc::Status QvdbService::Get(grpc::ServerContext* context,
                              const v1::GetRequest* request,
                              v1::GetResponse* response) {
  return Handle(kGet, context, request->collection(), [&]() -> absl::Status {
    RETURN_IF_ERROR(RequireName(request->collection(), "collection"));
    ASSIGN_OR_RETURN(RowFilter filter, RequestFilter(*request));
    ASSIGN_OR_RETURN(std::vector<UserId> ids,
                     FromProto(request->ids(), "ids", limits_));
    RETURN_IF_ERROR(IdsOrFilter("get", ids.size(), filter));
    if (filter.empty() && request->limit() != 0) {
      return absl::InvalidArgumentError(
          "limit applies to a get by filter; a get by ids returns one result "
          "per id");
    }
    if (request->limit() > limits_.max_get_filter_rows) {
      return absl::InvalidArgumentError(fmt::format(
          "limit {} is over the limit of {} rows per get; page by a filter "
          "on a field instead",
          request->limit(), limits_.max_get_filter_rows));
    }
    GetOptions options;
    options.with_payload = request->with_payload();
    options.with_vector = request->with_vector();
    ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, holder_->Acquire());
    std::vector<GetResult> results;
    if (filter.empty()) {
      ASSIGN_OR_RETURN(results,
                       engine->Get(request->collection(), ids, options));
    } else {
      const size_t limit =
          request->limit() == 0 ? kDefaultGetFilterLimit : request->limit();
      ASSIGN_OR_RETURN(
          FilteredRows rows,
          engine->GetWhere(request->collection(), filter, limit, options));
      results = std::move(rows.rows);
      response->set_more(rows.more);
    }
    for (GetResult& r : results) {
      v1::GetResult* out = response->add_results();
      ToProto(r.id, out->mutable_id());
      out->set_found(r.found);
      if (!r.payload.empty()) out->set_payload(std::move(r.payload));
      out->mutable_vector()->Add(r.vector.begin(), r.vector.end());
    }
    return absl::OkStatus();
  });
}

grpc::Status QvdbService::Count(grpc::ServerContext* context,
                                const v1::CountRequest* request,
                                v1::CountResponse* response) {
  return Handle(kCount, context, request->collection(), [&]() -> absl::Status {
    RETURN_IF_ERROR(RequireName(request->collection(), "collection"));
    ASSIGN_OR_RETURN(RowFilter filter, RequestFilter(*request));
    ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, holder_->Acquire());
    ASSIGN_OR_RETURN(uint64_t count,
                     engine->Count(request->collection(), filter));
    response->set_count(count);
    return absl::OkStatus();
  });
}

grpc::Status QvdbService::SampleVectors(
    grpc::ServerContext* context, const v1::SampleVectorsRequest* request,
    v1::SampleVectorsResponse* response) {
  return Handle(kSampleVectors, context, request->collection(),
                [&]() -> absl::Status {
    RETURN_IF_ERROR(RequireName(request->collection(), "collection"));
    if (request->max_rows() == 0 ||
        request->max_rows() > limits_.max_sample_rows) {
      return absl::InvalidArgumentError(fmt::format(
          "max_rows is {}; ask for 1 to {} rows", request->max_rows(),
          limits_.max_sample_rows));
    }
    ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, holder_->Acquire());
    ASSIGN_OR_RETURN(CollectionInfo info,
                     engine->DescribeCollection(request->collection()));
    // What fits in one response, with room for the other fields.
    const size_t row_bytes = size_t(info.dim) * sizeof(float) + 8;
    const size_t fit =
        std::max<size_t>(1, (size_t(limits_.max_message_bytes) - 4096) /
                                row_bytes);
    ASSIGN_OR_RETURN(
        VectorSample sample,
        engine->SampleVectors(request->collection(),
                              std::min<size_t>(request->max_rows(), fit)));
    response->set_dimension(info.dim);
    response->set_rows(uint32_t(sample.rows));
    response->set_live_rows(sample.live_rows);
    response->mutable_vectors()->Add(sample.vectors.begin(),
                                     sample.vectors.end());
    return absl::OkStatus();
  });
}

grpc::Status QvdbService::Ingest(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::IngestAck, v1::IngestRequest>* stream) {
  std::string collection;
  return Handle(kIngest, context, "", [&]() -> absl::Status {
    v1::IngestAck ack;
    v1::IngestRequest request;
    while (stream->Read(&request)) {
      if (context->IsCancelled()) {
        return absl::CancelledError(fmt::format(
            "the Ingest stream was cancelled after {} rows were stored",
            ack.total_rows()));
      }
      if (shutting_down_.load()) {
        return absl::UnavailableError(fmt::format(
            "the server is shutting down; the {} rows acknowledged are "
            "stored, send the rest again when it is back",
            ack.total_rows()));
      }
      const uint64_t sequence = ack.sequence() + 1;
      // Messages after the first may omit the collection.
      if (collection.empty()) {
        if (request.collection().empty()) {
          return absl::InvalidArgumentError(
              "the first Ingest message must name the collection");
        }
        collection = request.collection();
      } else if (!request.collection().empty() &&
                 request.collection() != collection) {
        return absl::InvalidArgumentError(fmt::format(
            "Ingest message {} names collection \"{}\" but the stream "
            "loads \"{}\"; use one stream per collection",
            sequence, request.collection(), collection));
      }
      WriteSummary summary;
      if (request.rows_size() > 0) {
        auto rows = FromProto(request.rows(), limits_);
        absl::Status status = rows.status();
        if (status.ok()) {
          auto engine = holder_->Acquire();
          status = engine.status();
          if (status.ok()) {
            auto written = (*engine)->Upsert(collection, *rows);
            status = written.status();
            if (written.ok()) summary = *written;
          }
        }
        if (!status.ok()) {
          return absl::Status(
              status.code(),
              fmt::format("Ingest message {}: {} (the {} rows acknowledged "
                          "before it are stored; this message wrote nothing)",
                          sequence, std::string(status.message()),
                          ack.total_rows()));
        }
      }
      ack.set_sequence(sequence);
      ack.set_rows(request.rows_size());
      ack.set_inserted(summary.inserted);
      ack.set_updated(summary.updated);
      ack.set_total_rows(ack.total_rows() + request.rows_size());
      ack.set_total_inserted(ack.total_inserted() + summary.inserted);
      ack.set_total_updated(ack.total_updated() + summary.updated);
      if (!stream->Write(ack)) {
        // The client went away; what was acknowledged before is stored.
        return absl::CancelledError(
            fmt::format("the client closed the Ingest stream after {} rows",
                        ack.total_rows()));
      }
    }
    spdlog::debug("rpc=Ingest collection=\"{}\" messages={} rows={}",
                  LogEscaped(collection), ack.sequence(), ack.total_rows());
    return absl::OkStatus();
  });
}

// --- Search ---

grpc::Status QvdbService::Search(grpc::ServerContext* context,
                                 const v1::SearchRequest* request,
                                 v1::SearchResponse* response) {
  return Handle(kSearch, context, request->collection(), [&]() -> absl::Status {
    RETURN_IF_ERROR(RequireName(request->collection(), "collection"));
    if (request->vector_size() == 0) {
      return absl::InvalidArgumentError(
          "the query vector is empty; send the collection's dimension of "
          "floats");
    }
    ASSIGN_OR_RETURN(SearchOptions options,
                     FromProto(request->params(), 1, limits_));
    SearchStats stats;
    options.stats = &stats;
    ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, holder_->Acquire());
    ASSIGN_OR_RETURN(
        std::vector<Hit> hits,
        engine->SearchOne(request->collection(),
                          std::span<const float>(request->vector().data(),
                                                 request->vector_size()),
                          options));
    for (Hit& hit : hits) ToProto(std::move(hit), response->add_hits());
    ToProto(stats, response->mutable_stats());
    return absl::OkStatus();
  });
}

grpc::Status QvdbService::SearchBatch(grpc::ServerContext* context,
                                      const v1::SearchBatchRequest* request,
                                      v1::SearchBatchResponse* response) {
  return Handle(
      kSearchBatch, context, request->collection(), [&]() -> absl::Status {
        RETURN_IF_ERROR(RequireName(request->collection(), "collection"));
        const size_t nq = request->queries_size();
        if (nq == 0) {
          return absl::InvalidArgumentError("the batch has no queries");
        }
        if (nq > limits_.max_batch_rows) {
          return absl::InvalidArgumentError(fmt::format(
              "{} queries are over the limit of {}; split the batch", nq,
              limits_.max_batch_rows));
        }
        const int dim = request->queries(0).values_size();
        if (dim == 0) {
          return absl::InvalidArgumentError("queries[0] is empty");
        }
        std::vector<float> flat;
        flat.reserve(nq * dim);
        for (size_t q = 0; q < nq; ++q) {
          const auto& values = request->queries(q).values();
          if (values.size() != dim) {
            return absl::InvalidArgumentError(fmt::format(
                "queries[{}] has {} values but queries[0] has {}; every query "
                "has the collection's dimension",
                q, values.size(), dim));
          }
          flat.insert(flat.end(), values.begin(), values.end());
        }
        ASSIGN_OR_RETURN(SearchOptions options,
                         FromProto(request->params(), nq, limits_));
        SearchStats stats;
        options.stats = &stats;
        ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, holder_->Acquire());
        ASSIGN_OR_RETURN(std::vector<std::vector<Hit>> results,
                         engine->Search(request->collection(), flat, options));
        for (auto& hits : results) {
          v1::SearchResult* out = response->add_results();
          for (Hit& hit : hits) ToProto(std::move(hit), out->add_hits());
        }
        ToProto(stats, response->mutable_stats());
        return absl::OkStatus();
      });
}

// --- Administration ---

grpc::Status QvdbService::AddField(grpc::ServerContext* context,
                                   const v1::AddFieldRequest* request,
                                   v1::AddFieldResponse* response) {
  return Handle(
      kAddField, context, request->collection(), [&]() -> absl::Status {
        RETURN_IF_ERROR(RequireName(request->collection(), "collection"));
        if (!request->has_field()) {
          return absl::InvalidArgumentError(
              "field is missing; give the new field's name and type");
        }
        ASSIGN_OR_RETURN(FieldSpec spec, FromProto(request->field()));
        ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, holder_->Acquire());
        ASSIGN_OR_RETURN(AddFieldResult result,
                         engine->AddField(request->collection(), spec));
        ToProto(result.info, response->mutable_info());
        response->set_rows_scanned(result.rows_scanned);
        response->set_rows_with_value(result.rows_with_value);
        response->set_rows_wrong_type(result.rows_wrong_type);
        response->set_seconds(result.seconds);
        return absl::OkStatus();
      });
}

grpc::Status QvdbService::Train(grpc::ServerContext* context,
                                const v1::TrainRequest* request,
                                v1::TrainResponse* response) {
  return Handle(kTrain, context, request->collection(), [&]() -> absl::Status {
    RETURN_IF_ERROR(RequireName(request->collection(), "collection"));
    ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, holder_->Acquire());
    const auto start = std::chrono::steady_clock::now();
    RETURN_IF_ERROR(engine->Train(request->collection()));
    response->set_seconds(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
    ASSIGN_OR_RETURN(CollectionStats stats,
                     engine->Stats(request->collection()));
    response->set_model_version(stats.model_version);
    return absl::OkStatus();
  });
}

grpc::Status QvdbService::Compact(grpc::ServerContext* context,
                                  const v1::CompactRequest* request,
                                  v1::CompactResponse* response) {
  return Handle(
      kCompact, context, request->collection(), [&]() -> absl::Status {
        RETURN_IF_ERROR(RequireName(request->collection(), "collection"));
        ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, holder_->Acquire());
        ASSIGN_OR_RETURN(CollectionStats before,
                         engine->Stats(request->collection()));
        RETURN_IF_ERROR(engine->Compact(request->collection()));
        ASSIGN_OR_RETURN(CollectionStats after,
                         engine->Stats(request->collection()));
        response->set_memory_bytes_before(before.memory_bytes);
        response->set_memory_bytes_after(after.memory_bytes);
        return absl::OkStatus();
      });
}

grpc::Status QvdbService::CreateSnapshot(
    grpc::ServerContext* context, const v1::CreateSnapshotRequest* request,
    v1::CreateSnapshotResponse* response) {
  return Handle(kCreateSnapshot, context, "", [&]() -> absl::Status {
    const std::string name = request->name().empty()
                                 ? fmt::format("snap-{}", UtcStamp())
                                 : request->name();
    ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, holder_->Acquire());
    ASSIGN_OR_RETURN(SnapshotInfo info, engine->CreateSnapshot(name));
    response->mutable_snapshot()->set_name(info.name);
    response->mutable_snapshot()->set_path(info.path);
    return absl::OkStatus();
  });
}

grpc::Status QvdbService::ListSnapshots(grpc::ServerContext* context,
                                        const v1::ListSnapshotsRequest* request,
                                        v1::ListSnapshotsResponse* response) {
  return Handle(kListSnapshots, context, "", [&]() -> absl::Status {
    // Server file paths are for callers who may manage snapshots (admin
    // keys, or no keys at all), not for read-only keys.
    const ApiKeys::Key* caller = nullptr;
    const bool show_paths =
        keys_ == nullptr ||
        keys_->Authorize(context->client_metadata(), "CreateSnapshot", &caller)
            .ok();
    ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, holder_->Acquire());
    ASSIGN_OR_RETURN(std::vector<SnapshotInfo> list, engine->ListSnapshots());
    for (const SnapshotInfo& s : list) {
      v1::SnapshotInfo* out = response->add_snapshots();
      out->set_name(s.name);
      if (show_paths) out->set_path(s.path);
    }
    return absl::OkStatus();
  });
}

grpc::Status QvdbService::DeleteSnapshot(
    grpc::ServerContext* context, const v1::DeleteSnapshotRequest* request,
    v1::DeleteSnapshotResponse* response) {
  return Handle(kDeleteSnapshot, context, "", [&]() -> absl::Status {
    if (request->name().empty()) {
      return absl::InvalidArgumentError("name is empty; name a snapshot");
    }
    ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, holder_->Acquire());
    return engine->DeleteSnapshot(request->name());
  });
}

grpc::Status QvdbService::RestoreSnapshot(
    grpc::ServerContext* context, const v1::RestoreSnapshotRequest* request,
    v1::RestoreSnapshotResponse* response) {
  return Handle(kRestoreSnapshot, context, "", [&]() -> absl::Status {
    if (request->name().empty()) {
      return absl::InvalidArgumentError("name is empty; name a snapshot");
    }
    // Holds no engine itself: the holder waits for the other calls.
    ASSIGN_OR_RETURN(
        EngineHolder::RestoreResult result,
        holder_->Restore(request->name(),
                         std::chrono::seconds(limits_.drain_seconds)));
    response->set_data_dir(result.data_dir);
    response->set_replaced_data_dir(result.replaced_data_dir);
    response->set_collections(result.collections);
    return absl::OkStatus();
  });
}

grpc::Status QvdbService::GetStats(grpc::ServerContext* context,
                                   const v1::GetStatsRequest* request,
                                   v1::GetStatsResponse* response) {
  return Handle(
      kGetStats, context, request->collection(), [&]() -> absl::Status {
        ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, holder_->Acquire());
        v1::ServerStats* server = response->mutable_server();
        server->set_version(QVDB_VERSION);
        server->set_uptime_seconds(
            std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                          started_)
                .count());
        server->set_simd_level(std::string(SimdLevelName(ActiveSimdLevel())));
        server->set_process_rss_bytes(ProcessRssBytes());
        server->set_in_flight(in_flight_.load(std::memory_order_relaxed));
        ASSIGN_OR_RETURN(std::vector<CollectionInfo> infos,
                         engine->ListCollections());
        server->set_collections(infos.size());
        uint64_t rows = 0, memory = 0;
        bool found = request->collection().empty();
        for (const CollectionInfo& info : infos) {
          auto stats = engine->Stats(info.name);
          if (absl::IsNotFound(stats.status())) continue;
          if (!stats.ok()) {
            // Failed to load: asked for by name, its error; else skipped.
            if (request->collection() == info.name) return stats.status();
            continue;
          }
          rows += stats->live_rows;
          memory += stats->memory_bytes;
          if (request->collection().empty() ||
              request->collection() == info.name) {
            ToProto(*stats, response->add_collections());
            found = true;
          }
        }
        if (!found) {
          return absl::NotFoundError(
              fmt::format("no collection \"{}\"", request->collection()));
        }
        server->set_live_rows(rows);
        server->set_index_memory_bytes(memory);
        for (const RequestMetrics::Figures& f : metrics_.Snapshot()) {
          v1::MethodStats* m = server->add_methods();
          m->set_method(f.method);
          m->set_calls(f.calls);
          m->set_errors(f.errors);
          m->set_mean_micros(f.mean_micros);
          m->set_p50_micros(f.p50_micros);
          m->set_p99_micros(f.p99_micros);
          m->set_max_micros(f.max_micros);
        }
        return absl::OkStatus();
      });
}

}  // namespace qvdb
