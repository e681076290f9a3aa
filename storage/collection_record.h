// The catalog's record of one collection, and its stable byte encoding.
//
// A record is a plain value; Storage reads and writes it under its own
// write lock, so the type itself needs no synchronisation.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "index/metric.h"

namespace qvdb {

// Lifecycle of a collection's model (docs/storage.md, "States").
enum class CollectionState : uint8_t {
  kEmpty = 0,      // created, no vector written yet
  kUntrained = 1,  // vectors stored, no model in force
  kTraining = 2,   // a new model version is being written (pending); the
                   // previous one, if any, stays in force until activation
  kTrained = 3,    // a model is in force and nothing is pending
};

std::string_view CollectionStateName(CollectionState state);

// Version of the record's encoding; readers refuse newer ones.
// Version 2 added field_schema, version 3 postings_fields.
inline constexpr uint32_t kCollectionRecordVersion = 3;

struct CollectionRecord {
  uint32_t id = 0;  // numeric id, prefix of every key of the collection
  std::string name;
  uint32_t dim = 0;
  Metric metric = Metric::kL2;
  std::string index_spec;  // opaque to storage, e.g. "IVF1024,PQ32x8"
  // The declared payload fields, opaque to storage (the engine's text form,
  // e.g. "lang:keyword,year:int64"); empty: none. Format version >= 2.
  std::string field_schema;
  // How many of field_schema's fields (the first ones) have their postings
  // in storage for every row (docs/storage.md, "Field postings"); fewer
  // than the schema's fields: the engine builds the rest from the payloads
  // at load. Format version >= 3; older records read as 0.
  uint32_t postings_fields = 0;
  CollectionState state = CollectionState::kEmpty;
  uint32_t format_version = kCollectionRecordVersion;
  int64_t created_unix_micros = 0;
  uint64_t model_version = 0;          // in force; 0: none
  uint64_t pending_model_version = 0;  // being written; 0: none
};

// Little-endian fields in a fixed order (docs/storage.md, "catalog").
std::string EncodeCollectionRecord(const CollectionRecord& record);
// DataLoss on truncated, trailing or out-of-range bytes; FailedPrecondition
// on a record written by a newer format version.
absl::StatusOr<CollectionRecord> DecodeCollectionRecord(std::string_view bytes);

}  // namespace qvdb
