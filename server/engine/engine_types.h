// The values Engine (collection_engine.h) takes and returns. Plain structs,
// no gRPC types: the service converts them to and from its messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "index/filter/filter_expr.h"
#include "index/metric.h"
#include "server/engine/limits.h"
#include "storage/collection_record.h"
#include "storage/user_id.h"

namespace qvdb {


// One row of an upsert. The vector has the collection's dimension; the
// payload is opaque bytes (typically JSON), empty for none.
struct UpsertRow {
  UserId id;
  std::vector<float> vector;
  std::string payload;
};

// What one upsert or delete did, row by row summed up.
struct WriteSummary {
  size_t inserted = 0;
  size_t updated = 0;
  size_t deleted = 0;
  size_t not_found = 0;  // deletes of ids that were not there (no error)
};

struct GetOptions {
  bool with_payload = true;
  bool with_vector = false;
};

struct GetResult {
  UserId id;
  bool found = false;
  std::string payload;        // when asked for and stored
  std::vector<float> vector;  // when asked for
};

// Rows chosen by their declared fields' values (docs/filter.md): the text
// form, the structured form, or both (a row must pass both). Count, Get and
// Delete by filter take it.
struct RowFilter {
  std::string text;  // e.g. `lang = "en" and year >= 2020`; empty: none
  std::optional<StructuredFilter> structured;
  bool empty() const { return text.empty() && !structured.has_value(); }
};

// What a Get by filter returns: the rows that pass, in internal-id (about
// insertion) order, found = true each.
struct FilteredRows {
  std::vector<GetResult> rows;
  // More rows passed than were returned (the limit, or the response's size
  // bound, was reached).
  bool more = false;
};

// Evenly spread stored vectors (Engine::SampleVectors).
struct VectorSample {
  size_t rows = 0;
  uint64_t live_rows = 0;       // rows the collection holds
  std::vector<float> vectors;   // rows x dim
};

// How a filtered search ran (docs/filter.md, "Search under a filter").
struct SearchStats {
  // "unfiltered"; "exact" (a scan of the allowed rows' vectors, when few
  // pass); "index" (the index's scan with the allowed-set test, nprobe
  // raised by the selectivity).
  std::string strategy = "unfiltered";
  uint64_t allowed_rows = 0;  // rows that pass the filter (filtered only)
  // Lists scanned: by "index", or by a scan that came back short of k
  // before "exact" ran (0 when exact ran at once).
  int nprobe = 0;
  // Candidates the Refine stages re-scored, over all queries: the RAM tier
  // (two stages) and the last stage; the bytes the last stage read from
  // the disk tier (0 when it lives in RAM).
  uint64_t ram_refine_scored = 0;
  uint64_t refine_scored = 0;
  uint64_t disk_tier_bytes = 0;
};

struct SearchOptions {
  int k = 10;              // 1 to kMaxSearchK
  int nprobe = 8;          // IVF lists scanned per query; clamped to nlist
  int refine_factor = 4;   // Refine specs: k * refine_factor re-scored
  // Two Refine stages: the RAM tier re-scores k * ram_refine_factor scan
  // candidates (at least k * refine_factor) for the last stage.
  int ram_refine_factor = 16;
  // Only these user ids may be returned (absent: all). Unknown ids are
  // ignored; an empty list matches nothing.
  std::optional<std::vector<UserId>> filter;
  // A filter expression over the declared fields (docs/filter.md), e.g.
  // `lang = "en" and year >= 2020`; empty: none. With `filter` too, a row
  // must pass both.
  std::string filter_expr;
  // The structured form of a filter expression; with filter_expr too, a
  // row must pass both.
  std::optional<StructuredFilter> filter_structured;
  bool with_payload = true;
  bool with_vector = false;
  // When set, filled with how the search ran.
  SearchStats* stats = nullptr;
};


// One search result. score is metric.h's ToUserScore: the squared distance
// for L2 (lower is closer), the (cosine) similarity otherwise (higher is
// closer). Hits come best first.
struct Hit {
  UserId id;
  float score = 0;
  std::string payload;
  std::vector<float> vector;
};

struct CollectionInfo {
  std::string name;
  uint32_t dim = 0;
  Metric metric = Metric::kL2;
  std::string index_spec;  // canonical form (IndexSpec::ToString)
  // Declared payload fields, FieldSchema's text form ("" for none).
  std::string field_schema;
  CollectionState state = CollectionState::kEmpty;
  int64_t created_unix_micros = 0;
};

// What Engine::AddField did: the collection with its new field, and how the
// stored rows filled it.
struct AddFieldResult {
  CollectionInfo info;
  uint64_t rows_scanned = 0;     // rows with a payload
  uint64_t rows_with_value = 0;  // of those, rows that hold the field
  // Rows whose member has the wrong type for the field: they hold no value
  // (the backfill goes on; new writes of such a value are refused).
  uint64_t rows_wrong_type = 0;
  double seconds = 0;
};

struct CollectionStats {
  CollectionInfo info;
  uint64_t live_rows = 0;         // rows in storage
  uint64_t indexed_vectors = 0;   // searchable vectors in RAM
  bool trained = false;           // a model is in force (else exact search)
  bool training = false;          // a model is being built now
  uint64_t model_version = 0;     // in force; 0: none
  uint64_t auto_train_threshold = 0;
  // Where re-ranking reads its vectors: true for Refine(Flat) (the stored
  // float32 vectors, read from disk per candidate), false when the refine
  // codes are held in RAM (other Refine codecs) or there is no Refine.
  bool refine_on_disk = false;
  // Refine(Flat) only (storage/refine_file.h): whether the refine file
  // serves the records, its size, and the records re-ranking has read from
  // the disk tier since load (from the file, and from RocksDB) and their
  // bytes.
  bool refine_file_attached = false;
  uint64_t refine_file_bytes = 0;
  uint64_t refine_fetched_from_file = 0;
  uint64_t refine_fetched_from_storage = 0;
  uint64_t refine_bytes_read = 0;
  // Why loading rebuilt the refine file from RocksDB ("missing", "not
  // closed cleanly", "stale: ..."); empty when it was trusted.
  std::string refine_file_rebuild_reason;
  // A rebuild runs in the background (after a crash); until it ends,
  // re-ranking reads RocksDB.
  bool refine_file_rebuilding = false;
  // Candidates the Refine stages re-scored since load, over every search
  // (SearchStats has them per search).
  uint64_t ram_refine_scored = 0;
  uint64_t refine_scored = 0;
  // RocksDB's estimate for the collection (CollectionCounts), and
  // (storage_disk_bytes + refine_file_bytes) / live_rows.
  uint64_t storage_disk_bytes = 0;
  double disk_bytes_per_vector = 0;
  size_t code_size = 0;           // bytes per vector of the codes in RAM
  size_t refine_code_size = 0;    // bytes per vector of the refine codes
  size_t ram_refine_code_size = 0;  // of the RAM tier (two Refine stages)
  size_t memory_bytes = 0;  // RAM of the index (lists, ids, models) and
                            // of the field index (columns, bitmaps)
  double ram_bytes_per_vector = 0;  // memory_bytes / indexed_vectors
  double load_seconds = 0;        // time to load at Open (0 if created)
  double last_train_seconds = 0;  // duration of the last training, if any
  std::string last_train_error;   // empty when the last training succeeded
};

}  // namespace qvdb
