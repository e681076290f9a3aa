#include "server/proto_convert.h"

#include <fmt/format.h>

#include "base/status_macros.h"
#include "index/filter/filter_expr.h"
#include "proto/metric_conversion.h"
#include "server/filter_convert.h"

namespace qvdb {

absl::StatusOr<UserId> FromProto(const v1::Id& id, std::string_view where) {
  switch (id.kind_case()) {
    case v1::Id::kU64:
      return UserId(id.u64());
    case v1::Id::kStr:
      return UserId(id.str());
    case v1::Id::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      fmt::format("{} is not set; set id.u64 or id.str", where));
}

void ToProto(const UserId& id, v1::Id* out) {
  if (std::holds_alternative<uint64_t>(id)) {
    out->set_u64(std::get<uint64_t>(id));
  } else {
    out->set_str(std::get<std::string>(id));
  }
}

absl::StatusOr<Metric> FromProto(v1::Metric metric) {
  if (std::optional<Metric> m = MetricFromProto(metric)) return *m;
  return absl::InvalidArgumentError(fmt::format(
      "metric {} is not valid; set METRIC_L2, METRIC_INNER_PRODUCT or "
      "METRIC_COSINE",
      static_cast<int>(metric)));
}

v1::Metric ToProto(Metric metric) { return MetricToProto(metric); }

v1::CollectionState ToProto(CollectionState state) {
  switch (state) {
    case CollectionState::kEmpty:
      return v1::COLLECTION_STATE_EMPTY;
    case CollectionState::kUntrained:
      return v1::COLLECTION_STATE_UNTRAINED;
    case CollectionState::kTraining:
      return v1::COLLECTION_STATE_TRAINING;
    case CollectionState::kTrained:
      return v1::COLLECTION_STATE_TRAINED;
  }
  return v1::COLLECTION_STATE_UNSPECIFIED;
}

void ToProto(const CollectionInfo& info, v1::CollectionInfo* out) {
  out->set_name(info.name);
  out->set_dimension(info.dim);
  if (auto schema = FieldSchema::Parse(info.field_schema); schema.ok()) {
    for (const FieldSpec& f : schema->fields()) {
      v1::FieldSpec* spec = out->add_fields();
      spec->set_name(f.name);
      spec->set_type(std::string(FieldTypeName(f.type)));
      spec->set_indexed(f.indexed);
    }
  }
  out->set_metric(ToProto(info.metric));
  out->set_index_spec(info.index_spec);
  out->set_state(ToProto(info.state));
  out->set_created_unix_micros(info.created_unix_micros);
}

void ToProto(const CollectionStats& s, v1::CollectionDescription* out) {
  ToProto(s.info, out->mutable_info());
  out->set_live_rows(s.live_rows);
  out->set_indexed_vectors(s.indexed_vectors);
  out->set_trained(s.trained);
  out->set_training(s.training);
  out->set_model_version(s.model_version);
  out->set_auto_train_threshold(s.auto_train_threshold);
  out->set_code_size(s.code_size);
  out->set_refine_code_size(s.refine_code_size);
  out->set_refine_on_disk(s.refine_on_disk);
  out->set_memory_bytes(s.memory_bytes);
  out->set_ram_bytes_per_vector(s.ram_bytes_per_vector);
  out->set_last_train_seconds(s.last_train_seconds);
  out->set_last_train_error(s.last_train_error);
  out->set_load_seconds(s.load_seconds);
  out->set_refine_file(s.refine_file_attached);
  out->set_refine_file_bytes(s.refine_file_bytes);
  out->set_storage_disk_bytes(s.storage_disk_bytes);
  out->set_disk_bytes_per_vector(s.disk_bytes_per_vector);
  out->set_refine_reads_from_file(s.refine_fetched_from_file);
  out->set_refine_reads_from_storage(s.refine_fetched_from_storage);
  out->set_refine_bytes_read(s.refine_bytes_read);
  out->set_ram_refine_code_size(s.ram_refine_code_size);
  out->set_refine_file_rebuilding(s.refine_file_rebuilding);
  out->set_ram_refine_scored(s.ram_refine_scored);
  out->set_refine_scored(s.refine_scored);
}

absl::StatusOr<std::vector<UpsertRow>> FromProto(
    const google::protobuf::RepeatedPtrField<v1::Row>& rows,
    const Limits& limits) {
  if (static_cast<size_t>(rows.size()) > limits.max_batch_rows) {
    return absl::InvalidArgumentError(
        fmt::format("a batch of {} rows is over the limit of {}; split it",
                    rows.size(), limits.max_batch_rows));
  }
  std::vector<UpsertRow> out(rows.size());
  for (int i = 0; i < rows.size(); ++i) {
    const v1::Row& row = rows[i];
    if (!row.has_id()) {
      return absl::InvalidArgumentError(
          fmt::format("rows[{}] has no id; set id.u64 or id.str", i));
    }
    auto id = FromProto(row.id(), fmt::format("rows[{}].id", i));
    if (!id.ok()) return id.status();
    out[i].id = *std::move(id);
    out[i].vector.assign(row.vector().begin(), row.vector().end());
    out[i].payload = row.payload();
  }
  return out;
}

absl::StatusOr<std::vector<UserId>> FromProto(
    const google::protobuf::RepeatedPtrField<v1::Id>& ids,
    std::string_view field, const Limits& limits) {
  if (static_cast<size_t>(ids.size()) > limits.max_batch_rows) {
    return absl::InvalidArgumentError(
        fmt::format("{} ids are over the limit of {}; split the request",
                    ids.size(), limits.max_batch_rows));
  }
  std::vector<UserId> out;
  out.reserve(ids.size());
  for (int i = 0; i < ids.size(); ++i) {
    auto id = FromProto(ids[i], fmt::format("{}[{}]", field, i));
    if (!id.ok()) return id.status();
    out.push_back(*std::move(id));
  }
  return out;
}

absl::StatusOr<FieldSpec> FromProto(const v1::FieldSpec& f) {
  auto type = ParseFieldType(f.type());
  if (!type.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("field \"{}\": {}", f.name().substr(0, 80),
                    std::string(type.status().message())));
  }
  return FieldSpec{f.name(), *type, !f.has_indexed() || f.indexed()};
}

absl::StatusOr<std::string> FieldSchemaText(
    const google::protobuf::RepeatedPtrField<v1::FieldSpec>& fields) {
  std::vector<FieldSpec> specs;
  for (const v1::FieldSpec& f : fields) {
    ASSIGN_OR_RETURN(FieldSpec spec, FromProto(f));
    specs.push_back(std::move(spec));
  }
  ASSIGN_OR_RETURN(FieldSchema schema, FieldSchema::Create(std::move(specs)));
  return schema.ToText();
}

void ToProto(const SearchStats& s, v1::SearchStats* out) {
  out->set_strategy(s.strategy);
  out->set_allowed_rows(s.allowed_rows);
  out->set_nprobe(s.nprobe);
  out->set_ram_refine_scored(s.ram_refine_scored);
  out->set_refine_scored(s.refine_scored);
  out->set_disk_tier_bytes(s.disk_tier_bytes);
}

absl::StatusOr<SearchOptions> FromProto(const v1::SearchParams& params,
                                        size_t num_queries,
                                        const Limits& limits) {
  SearchOptions o;
  if (params.k() < 0 || params.nprobe() < 0 || params.refine_factor() < 0 ||
      params.ram_refine_factor() < 0) {
    return absl::InvalidArgumentError(fmt::format(
        "k ({}), nprobe ({}), refine_factor ({}) and ram_refine_factor ({}) "
        "must not be negative (0 means the default)",
        params.k(), params.nprobe(), params.refine_factor(),
        params.ram_refine_factor()));
  }
  if (params.k() > 0) o.k = params.k();
  if (params.nprobe() > 0) o.nprobe = params.nprobe();
  if (params.refine_factor() > 0) o.refine_factor = params.refine_factor();
  if (params.ram_refine_factor() > 0) {
    o.ram_refine_factor = params.ram_refine_factor();
  }
  if (o.k > limits.max_k) {
    return absl::InvalidArgumentError(
        fmt::format("k {} is over the limit of {}", o.k, limits.max_k));
  }
  if (static_cast<uint64_t>(o.k) * num_queries > limits.max_result_hits) {
    return absl::InvalidArgumentError(fmt::format(
        "k {} x {} queries = {} hits is over the limit of {} per call; send "
        "fewer queries per call",
        o.k, num_queries, static_cast<uint64_t>(o.k) * num_queries,
        limits.max_result_hits));
  }
  if (params.has_filter()) {
    const auto& ids = params.filter().ids();
    if (static_cast<size_t>(ids.size()) > limits.max_filter_ids) {
      return absl::InvalidArgumentError(
          fmt::format("the filter's {} ids are over the limit of {}",
                      ids.size(), limits.max_filter_ids));
    }
    std::vector<UserId> filter;
    filter.reserve(ids.size());
    for (int i = 0; i < ids.size(); ++i) {
      auto id = FromProto(ids[i], fmt::format("params.filter.ids[{}]", i));
      if (!id.ok()) return id.status();
      filter.push_back(*std::move(id));
    }
    o.filter = std::move(filter);
  }
  ASSIGN_OR_RETURN(
      RowFilter row_filter,
      RowFilterFromProto(params.filter_expr(), params.has_structured_filter()
                                                   ? &params.structured_filter()
                                                   : nullptr));
  o.filter_expr = std::move(row_filter.text);
  o.filter_structured = std::move(row_filter.structured);
  o.with_payload = params.with_payload();
  o.with_vector = params.with_vector();
  return o;
}

void ToProto(Hit&& hit, v1::Hit* out) {
  ToProto(hit.id, out->mutable_id());
  out->set_score(hit.score);
  if (!hit.payload.empty()) out->set_payload(std::move(hit.payload));
  if (!hit.vector.empty()) {
    out->mutable_vector()->Add(hit.vector.begin(), hit.vector.end());
  }
}

}  // namespace qvdb
