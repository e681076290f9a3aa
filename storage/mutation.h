// What one client write carries (Storage::Write) and what it returns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storage/user_id.h"

namespace qvdb {

// A code of one row under one model version, in inverted list `list`
// (0 for a codec without IVF). Opaque bytes to storage.
struct Code {
  uint64_t model_version = 0;
  uint32_t list = 0;
  std::string bytes;
};

// One entry of a row's field index (docs/storage.md, "Field postings"):
// field number `field` holds `value`, bytes opaque to storage (the engine
// encodes them, index/filter/field_postings.h). Stored as the key
// cid | 'f' | field | value | iid, so a field's postings are one key range
// in value order.
struct FieldPosting {
  uint16_t field = 0;
  std::string value;

  friend bool operator==(const FieldPosting&, const FieldPosting&) = default;
};

// One upsert or delete. Build with Mutation::Upsert / Mutation::Delete.
struct Mutation {
  enum class Kind { kUpsert, kDelete };

  // `vector`: the row's vector bytes (non-empty; the engine stores float32).
  // `payload`: opaque bytes, typically JSON; empty means no payload.
  // `codes`: exactly one per model version the collection holds (the one in
  // force and the pending one, when there are), none while untrained.
  // `postings`: the row's field postings, all of them: they replace the
  // row's previous ones in the same batch (a delete removes them).
  static Mutation Upsert(UserId id, std::string vector,
                         std::string payload = {},
                         std::vector<Code> codes = {},
                         std::vector<FieldPosting> postings = {}) {
    return Mutation{Kind::kUpsert,      std::move(id),    std::move(vector),
                    std::move(payload), std::move(codes), std::move(postings)};
  }
  static Mutation Delete(UserId id) {
    return Mutation{Kind::kDelete, std::move(id), {}, {}, {}, {}};
  }

  Kind kind = Kind::kUpsert;
  UserId id;
  std::string vector;
  std::string payload;
  std::vector<Code> codes;
  std::vector<FieldPosting> postings;
};

// Where a code was before a write replaced or removed it: the engine drops
// the internal id from these in-memory lists.
struct CodeLocation {
  uint64_t model_version = 0;
  uint32_t list = 0;
};

struct MutationResult {
  enum class Outcome {
    kInserted,  // a new row with a newly allocated internal id
    kUpdated,   // an existing row, same internal id, contents replaced
    kDeleted,   // the row existed and is gone
    kNotFound,  // delete of an id that was not there (not an error)
  };
  Outcome outcome = Outcome::kInserted;
  uint64_t internal_id = 0;                 // 0 and meaningless for kNotFound
  std::vector<CodeLocation> removed_codes;  // kUpdated and kDeleted
};

// One result per mutation, in the order given.
struct WriteResult {
  std::vector<MutationResult> results;
};

// The postings of an existing row for fields first_field and later, written
// while backfilling fields (Storage::PutFieldPostings).
struct RowPostings {
  uint64_t internal_id = 0;
  std::vector<FieldPosting> postings;
};

// A code for an existing row, written while (re)training a model.
struct CodeEntry {
  uint64_t internal_id = 0;
  uint32_t list = 0;
  std::string bytes;
};

}  // namespace qvdb
