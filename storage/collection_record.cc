#include "storage/collection_record.h"

#include <fmt/format.h>

#include "base/byte_io.h"
#include "base/status_macros.h"

namespace qvdb {
namespace {

// Stored codes of the metric: fixed here, independent of the enum's order.
uint8_t MetricCode(Metric m) {
  switch (m) {
    case Metric::kL2:
      return 0;
    case Metric::kInnerProduct:
      return 1;
    case Metric::kCosine:
      return 2;
  }
  return 0;
}

absl::StatusOr<Metric> MetricFromCode(uint8_t code) {
  switch (code) {
    case 0:
      return Metric::kL2;
    case 1:
      return Metric::kInnerProduct;
    case 2:
      return Metric::kCosine;
  }
  return absl::DataLossError(
      fmt::format("collection record has unknown metric code {}", code));
}

absl::Status Damaged(const absl::Status& why) {
  return absl::DataLossError(fmt::format(
      "collection record is damaged ({}); restore the data directory from a "
      "snapshot",
      std::string(why.message())));
}

}  // namespace

std::string_view CollectionStateName(CollectionState state) {
  switch (state) {
    case CollectionState::kEmpty:
      return "empty";
    case CollectionState::kUntrained:
      return "untrained";
    case CollectionState::kTraining:
      return "training";
    case CollectionState::kTrained:
      return "trained";
  }
  return "unknown";
}

std::string EncodeCollectionRecord(const CollectionRecord& r) {
  ByteWriter w;
  w.Put<uint32_t>(r.format_version);
  w.Put<uint32_t>(r.id);
  w.PutString(r.name);
  w.Put<uint32_t>(r.dim);
  w.Put<uint8_t>(MetricCode(r.metric));
  w.PutString(r.index_spec);
  w.Put<uint8_t>(static_cast<uint8_t>(r.state));
  w.Put<int64_t>(r.created_unix_micros);
  w.Put<uint64_t>(r.model_version);
  w.Put<uint64_t>(r.pending_model_version);
  if (r.format_version >= 2) w.PutString(r.field_schema);
  if (r.format_version >= 3) w.Put<uint32_t>(r.postings_fields);
  return w.Release();
}

absl::StatusOr<CollectionRecord> DecodeCollectionRecord(
    std::string_view bytes) {
  ByteReader r(bytes);
  CollectionRecord out;
  if (auto st = r.Get(&out.format_version); !st.ok()) return Damaged(st);
  if (out.format_version == 0) {
    return Damaged(absl::DataLossError("format version 0"));
  }
  if (out.format_version > kCollectionRecordVersion) {
    return absl::FailedPreconditionError(fmt::format(
        "collection record has format version {}, this build reads up to {}; "
        "upgrade qvdb",
        out.format_version, kCollectionRecordVersion));
  }
  uint8_t metric = 0;
  uint8_t state = 0;
  absl::Status st = r.Get(&out.id);
  if (st.ok()) st = r.GetString(&out.name);
  if (st.ok()) st = r.Get(&out.dim);
  if (st.ok()) st = r.Get(&metric);
  if (st.ok()) st = r.GetString(&out.index_spec);
  if (st.ok()) st = r.Get(&state);
  if (st.ok()) st = r.Get(&out.created_unix_micros);
  if (st.ok()) st = r.Get(&out.model_version);
  if (st.ok()) st = r.Get(&out.pending_model_version);
  if (st.ok() && out.format_version >= 2) st = r.GetString(&out.field_schema);
  if (st.ok() && out.format_version >= 3) st = r.Get(&out.postings_fields);
  if (!st.ok()) return Damaged(st);
  if (r.remaining() != 0) {
    return Damaged(
        absl::DataLossError(fmt::format("{} trailing bytes", r.remaining())));
  }
  auto m = MetricFromCode(metric);
  if (!m.ok()) return Damaged(m.status());
  out.metric = *m;
  if (state > static_cast<uint8_t>(CollectionState::kTrained)) {
    return Damaged(
        absl::DataLossError(fmt::format("unknown state code {}", state)));
  }
  out.state = static_cast<CollectionState>(state);
  return out;
}

}  // namespace qvdb
