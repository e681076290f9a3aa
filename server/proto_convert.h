// PRIVATE header of server/: conversions between the API's messages
// (qvdb/v1/qvdb.proto) and the engine's plain types (engine_types.h), with
// the checks that only the message form needs (unset ids, unspecified
// metric, ragged query batches, zero-means-default knobs, the service's
// limits). Every error is InvalidArgument naming the field.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "qvdb/v1/qvdb.pb.h"
#include "server/engine/engine_types.h"
#include "server/engine/limits.h"
#include "storage/user_id.h"

namespace qvdb {

// `where` names the id in messages, e.g. "rows[3].id".
absl::StatusOr<UserId> FromProto(const v1::Id& id, std::string_view where);
void ToProto(const UserId& id, v1::Id* out);

absl::StatusOr<Metric> FromProto(v1::Metric metric);
v1::Metric ToProto(Metric metric);
v1::CollectionState ToProto(CollectionState state);

void ToProto(const CollectionInfo& info, v1::CollectionInfo* out);
void ToProto(const CollectionStats& stats, v1::CollectionDescription* out);

// At most limits.max_batch_rows rows, each with an id set.
absl::StatusOr<std::vector<UpsertRow>> FromProto(
    const google::protobuf::RepeatedPtrField<v1::Row>& rows,
    const Limits& limits);

absl::StatusOr<std::vector<UserId>> FromProto(
    const google::protobuf::RepeatedPtrField<v1::Id>& ids,
    std::string_view field, const Limits& limits);

// Zero knobs take their defaults (k 10, nprobe 8, refine_factor 4);
// negative ones, k above the limit, k * num_queries above max_result_hits
// and filters above max_filter_ids are rejected.
// Declared fields in FieldSchema's text form; InvalidArgument naming the
// field for an unknown type, a bad or repeated name.
absl::StatusOr<std::string> FieldSchemaText(
    const google::protobuf::RepeatedPtrField<v1::FieldSpec>& fields);
// One field (AddField): InvalidArgument naming it for an unknown type; the
// name is checked by the engine.
absl::StatusOr<FieldSpec> FromProto(const v1::FieldSpec& field);
void ToProto(const SearchStats& stats, v1::SearchStats* out);

absl::StatusOr<SearchOptions> FromProto(const v1::SearchParams& params,
                                        size_t num_queries,
                                        const Limits& limits);

// Moves the hit's payload and vector.
void ToProto(Hit&& hit, v1::Hit* out);

}  // namespace qvdb
