// Collection: payload fields kept in storage (docs/filter.md, docs/storage.md
// "Field postings"): each row's postings are written with the row (see
// Upsert), the field index is loaded from them, and fields added to a
// collection with rows are filled from the payloads (AddField).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <string>
#include <utility>
#include <vector>

#include "base/status_macros.h"
#include "index/filter/field_postings.h"
#include "server/engine/collection.h"
#include "server/engine/collection_internal.h"
#include "server/engine/field_values.h"
#include "server/engine/log_escape.h"

namespace qvdb {
namespace {

// Rows per storage batch of a backfill: bounded memory and batch size.
constexpr size_t kBackfillChunk = 8192;

bool KeywordLike(FieldType type) {
  return type == FieldType::kKeyword || type == FieldType::kBool ||
         type == FieldType::kKeywordList;
}

}  // namespace

absl::StatusOr<std::vector<FieldPosting>> Collection::PostingsOf(
    const FieldSchema& schema, const RowValues& values, size_t first_field) {
  std::vector<FieldPosting> out;
  RETURN_IF_ERROR(ForEachPosting(
      schema, values, first_field, [&](size_t field, std::string bytes) {
        out.push_back(FieldPosting{uint16_t(field), std::move(bytes)});
        return absl::OkStatus();
      }));
  return out;
}

absl::Status Collection::LoadFieldIndex() {
  const FieldSchema& schema = fields_;
  if (schema.empty()) return absl::OkStatus();
  const std::string& name = record_.name;
  const size_t n = schema.fields().size();
  if (record_.postings_fields < n) {
    // Stored before postings were kept (or an older build wrote it): build
    // them once from the payloads, then record that they are complete. A
    // crash before that record redoes it at the next load.
    const auto t0 = Clock::now();
    const uint16_t first = uint16_t(record_.postings_fields);
    RETURN_IF_ERROR(storage_->ClearFieldPostings(name, first));
    ASSIGN_OR_RETURN(BackfillCounts counts,
                     BackfillPostings(schema, first,
                                      /*refuse_non_object=*/false));
    RETURN_IF_ERROR(storage_->SetFieldSchema(name, record_.field_schema,
                                             uint32_t(n), record_.id)
                        .status());
    spdlog::info(
        "collection \"{}\": wrote the field postings of {} row(s) from their "
        "payloads in {:.3f} s (once: stored before postings were kept)",
        LogEscaped(name), counts.rows, SecondsSince(t0));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<FieldIndex> index, BuildFieldIndex(schema));
  absl::MutexLock lock(&field_mu_);
  field_index_ = std::move(index);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<FieldIndex>> Collection::BuildFieldIndex(
    const FieldSchema& schema) const {
  const std::string& name = record_.name;
  auto index = std::make_unique<FieldIndex>(schema);
  auto too_large = [&](uint64_t iid) {
    return absl::UnimplementedError(fmt::format(
        "collection \"{}\": internal id {} is beyond the 2^32 that field "
        "indexes support",
        name, iid));
  };
  // Every live row (rows without values pass `not` filters).
  Roaring live;
  RETURN_IF_ERROR(storage_->ScanRowIds(name, [&](uint64_t iid) {
    if (iid > UINT32_MAX) return too_large(iid);
    live.add(uint32_t(iid));
    return absl::OkStatus();
  }));
  index->LoadLiveRows(live);
  for (size_t f = 0; f < schema.fields().size(); ++f) {
    const FieldType type = schema.fields()[f].type;
    const uint16_t field = uint16_t(f);
    auto where = [&](const absl::Status& st) {
      return WithPrefix(st, fmt::format("collection \"{}\", field \"{}\"",
                                        name, schema.fields()[f].name));
    };
    if (KeywordLike(type)) {
      // A value's postings are contiguous: one bitmap per value.
      std::string value;
      bool have = false;
      Roaring rows;
      auto flush = [&]() -> absl::Status {
        if (!have) return absl::OkStatus();
        ASSIGN_OR_RETURN(FieldValue v, DecodePostingValue(type, value));
        return index->LoadKeyword(f, v, rows);
      };
      RETURN_IF_ERROR(where(storage_->ScanFieldPostings(
          name, field,
          [&](std::string_view bytes, uint64_t iid) -> absl::Status {
            if (iid > UINT32_MAX) return too_large(iid);
            if (!have || bytes != value) {
              RETURN_IF_ERROR(flush());
              value.assign(bytes);
              have = true;
              rows = Roaring();
            }
            rows.add(uint32_t(iid));
            return absl::OkStatus();
          })));
      RETURN_IF_ERROR(where(flush()));
    } else {
      std::vector<uint32_t> rows;
      std::vector<FieldValue> values;
      RETURN_IF_ERROR(where(storage_->ScanFieldPostings(
          name, field,
          [&](std::string_view bytes, uint64_t iid) -> absl::Status {
            if (iid > UINT32_MAX) return too_large(iid);
            ASSIGN_OR_RETURN(FieldValue v, DecodePostingValue(type, bytes));
            rows.push_back(uint32_t(iid));
            values.push_back(std::move(v));
            return absl::OkStatus();
          })));
      RETURN_IF_ERROR(where(index->LoadNumbers(f, rows, values)));
    }
  }
  return index;
}

absl::StatusOr<Collection::BackfillCounts> Collection::BackfillPostings(
    const FieldSchema& schema, size_t first_field, bool refuse_non_object) {
  const std::string& name = record_.name;
  BackfillCounts counts;
  std::vector<RowPostings> chunk;
  auto flush = [&]() -> absl::Status {
    if (chunk.empty()) return absl::OkStatus();
    RETURN_IF_ERROR(
        storage_->PutFieldPostings(name, uint16_t(first_field), chunk)
            .status());
    chunk.clear();
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(storage_->ScanPayloads(
      name, [&](uint64_t iid, std::string_view payload) -> absl::Status {
        if (cancel_.load()) return Dropped(name);
        ++counts.rows;
        size_t wrong_type = 0;
        auto values = ExtractFieldValuesLenient(schema, payload, first_field,
                                                &wrong_type);
        if (!values.ok()) {
          if (refuse_non_object) {
            auto row = storage_->GetByInternalId(name, iid,
                                                 RowFields{false, false});
            return absl::FailedPreconditionError(fmt::format(
                "collection \"{}\": row {}: {}; fields can be added only "
                "when every payload is a JSON object (or empty)",
                name,
                row.ok() ? UserIdDebugString(row->id)
                         : fmt::format("with internal id {}", iid),
                std::string(values.status().message())));
          }
          spdlog::warn("collection \"{}\": row {}: {}", LogEscaped(name), iid,
                       std::string(values.status().message()));
          return absl::OkStatus();
        }
        if (wrong_type > 0) ++counts.wrong_type;
        ASSIGN_OR_RETURN(std::vector<FieldPosting> postings,
                         PostingsOf(schema, *values, first_field));
        if (!postings.empty()) ++counts.with_value;
        // Rows without values too: a backfill replaces whatever an earlier,
        // interrupted one left in the row's postings list.
        chunk.push_back(RowPostings{iid, std::move(postings)});
        if (chunk.size() >= kBackfillChunk) return flush();
        return absl::OkStatus();
      }));
  RETURN_IF_ERROR(flush());
  return counts;
}

absl::StatusOr<AddFieldResult> Collection::AddField(const FieldSpec& field) {
  const std::string& name = record_.name;
  if (auto st = ValidateFieldName(field.name); !st.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("collection \"{}\": {}", name, std::string(st.message())));
  }
  const auto t0 = Clock::now();
  // Writes wait for the whole backfill: none can slip between the scan of
  // the payloads and the new field coming into force. Searches go on.
  absl::MutexLock w(&write_mu_);
  RETURN_IF_ERROR(CheckOpen());
  const FieldSchema& old = fields_;
  if (const FieldSpec* taken = old.Find(field.name); taken != nullptr) {
    return absl::AlreadyExistsError(fmt::format(
        "collection \"{}\" already has a field \"{}\" ({}); choose another "
        "name",
        name, field.name, FieldTypeName(taken->type)));
  }
  std::vector<FieldSpec> specs = old.fields();
  specs.push_back(field);
  auto next = FieldSchema::Create(std::move(specs));
  if (!next.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("collection \"{}\": adding field \"{}\": {}", name,
                    field.name, std::string(next.status().message())));
  }
  const size_t first = old.fields().size();
  // What an earlier AddField cut short by a crash or an error left behind.
  RETURN_IF_ERROR(storage_->ClearFieldPostings(name, uint16_t(first)));
  ASSIGN_OR_RETURN(BackfillCounts counts,
                   BackfillPostings(*next, first, /*refuse_non_object=*/true));
  ASSIGN_OR_RETURN(std::unique_ptr<FieldIndex> index, BuildFieldIndex(*next));
  // The one catalog write that puts the field in force.
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   storage_->SetFieldSchema(name, next->ToText(),
                                            uint32_t(next->fields().size()),
                                            record_.id));
  {
    absl::MutexLock lock(&field_mu_);
    field_index_ = std::move(index);  // before the schema: see fields_
    fields_.Set(*std::move(next));
  }
  AddFieldResult result;
  result.info = InfoFromRecord(rec);
  result.rows_scanned = counts.rows;
  result.rows_with_value = counts.with_value;
  result.rows_wrong_type = counts.wrong_type;
  result.seconds = SecondsSince(t0);
  spdlog::info(
      "collection \"{}\": added field \"{}\" ({}{}) in {:.3f} s: {} of {} "
      "row(s) hold it, {} of the wrong type (no value)",
      LogEscaped(name), field.name, FieldTypeName(field.type),
      field.indexed ? "" : ", unindexed", result.seconds,
      result.rows_with_value, result.rows_scanned, result.rows_wrong_type);
  return result;
}

}  // namespace qvdb
