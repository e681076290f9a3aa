// Guards the checks every gRPC request passes before the engine acts on it
// (server/proto_convert.h, server/engine/engine_validation.h,
// server/engine/field_values.h): any message a client can send gives plain
// values or InvalidArgument, never a crash or an allocation the limits do
// not bound. The first byte picks the request type, the rest is the
// serialized message; the collection is 4-d with a fixed field schema.
#include <vector>

#include "index/codecs/index_spec.h"
#include "index/filter/filter_expr.h"
#include "qvdb/v1/qvdb.pb.h"
#include "server/engine/engine_validation.h"
#include "server/engine/field_values.h"
#include "server/proto_convert.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

constexpr uint32_t kDim = 4;

const qvdb::FieldSchema& Schema() {
  static const qvdb::FieldSchema* schema = [] {
    auto s = qvdb::FieldSchema::Parse(
        "lang:keyword,year:int64,score:double,public:bool,at:timestamp,"
        "tags:keyword_list");
    QVDB_FUZZ_CHECK(s.ok());
    return new qvdb::FieldSchema(*std::move(s));
  }();
  return *schema;
}

void CheckSearch(const std::string& collection, std::span<const float> queries,
                 const qvdb::v1::SearchParams& params, size_t nq) {
  const qvdb::Limits limits;
  auto options = qvdb::FromProto(params, nq, limits);
  if (!options.ok()) return;
  if (!qvdb::ValidateSearch(collection, kDim, queries, *options,
                            qvdb::EngineOptions())
           .ok()) {
    return;
  }
  if (!options->filter_expr.empty()) {
    (void)qvdb::ParseFilter(options->filter_expr, Schema());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t* body = data + 1;
  const int body_size = int(size - 1);
  const qvdb::Limits limits;
  const qvdb::EngineOptions options;
  switch (data[0] % 6) {
    case 0: {
      qvdb::v1::UpsertRequest request;
      if (!request.ParseFromArray(body, body_size)) return 0;
      auto rows = qvdb::FromProto(request.rows(), limits);
      if (!rows.ok()) return 0;
      if (!qvdb::ValidateUpsertBatch(request.collection(), kDim, *rows, options)
               .ok()) {
        return 0;
      }
      for (const qvdb::UpsertRow& row : *rows) {
        (void)qvdb::ExtractFieldValues(Schema(), row.payload);
      }
      break;
    }
    case 1:
    case 2: {
      qvdb::v1::DeleteRequest request;  // GetRequest's ids have the same tag
      if (!request.ParseFromArray(body, body_size)) return 0;
      auto ids = qvdb::FromProto(request.ids(), "ids", limits);
      if (!ids.ok()) return 0;
      const bool unique = data[0] % 6 == 1;
      (void)qvdb::ValidateIdBatch(request.collection(),
                                  unique ? "delete" : "get", *ids, unique,
                                  options);
      break;
    }
    case 3: {
      qvdb::v1::SearchRequest request;
      if (!request.ParseFromArray(body, body_size)) return 0;
      if (request.vector_size() == 0) return 0;  // as the Search handler
      CheckSearch(request.collection(),
                  std::span<const float>(request.vector().data(),
                                         request.vector_size()),
                  request.params(), 1);
      break;
    }
    case 4: {
      // As the SearchBatch handler: equal-sized queries, flattened.
      qvdb::v1::SearchBatchRequest request;
      if (!request.ParseFromArray(body, body_size)) return 0;
      const size_t nq = request.queries_size();
      if (nq == 0 || nq > limits.max_batch_rows) return 0;
      const int dim = request.queries(0).values_size();
      std::vector<float> flat;
      for (const auto& q : request.queries()) {
        if (q.values_size() != dim) return 0;
        flat.insert(flat.end(), q.values().begin(), q.values().end());
      }
      CheckSearch(request.collection(), flat, request.params(), nq);
      break;
    }
    case 5: {
      qvdb::v1::CreateCollectionRequest request;
      if (!request.ParseFromArray(body, body_size)) return 0;
      (void)qvdb::FromProto(request.metric());
      (void)qvdb::ParseIndexSpec(request.index_spec());
      auto text = qvdb::FieldSchemaText(request.fields());
      if (!text.ok()) return 0;
      // What the service accepted, the engine must parse.
      QVDB_FUZZ_CHECK(qvdb::FieldSchema::Parse(*text).ok());
      break;
    }
  }
  return 0;
}
