// PRIVATE header of server/: the API's filters (qvdb/v1/qvdb.proto: the
// text form `filter_expr` and the structured form `Filter`) as the engine's
// RowFilter / StructuredFilter. Only the message's shape is checked here
// (a kind, an operator and a value set; the size bound); fields, types,
// nesting and list lengths are checked against the collection's schema by
// ResolveFilter (index/filter/filter_expr.h), the same rules as the text
// form. Every error is InvalidArgument naming the field of the message.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "index/filter/filter_expr.h"
#include "qvdb/v1/qvdb.pb.h"
#include "server/engine/engine_types.h"

namespace qvdb {

// `where` names the message in errors, e.g. "structured_filter".
absl::StatusOr<StructuredFilter> FromProto(const v1::Filter& filter,
                                           std::string_view where);

// A request's text form and (when set) structured form. Each is at most
// kMaxFilterTextBytes (the structured form serialised).
absl::StatusOr<RowFilter> RowFilterFromProto(const std::string& text,
                                             const v1::Filter* structured);

}  // namespace qvdb
