// PRIVATE header of storage/: key and small-value encodings of every column
// family. The layout is the on-disk format; docs/storage.md describes it and
// any change here needs a new kFormatVersion.
//
// Keys: big-endian fixed-width integers, so that byte order = numeric order
// and a collection, a model version or an inverted list is one key range.
// Values: little-endian (ByteWriter), as in every serialized model.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/mutation.h"
#include "storage/user_id.h"

namespace qvdb::storage_internal {

// On-disk format version of the whole database, stored under kFormatKey in
// the default column family. Open refuses a newer one.
inline constexpr uint32_t kFormatVersion = 1;

// Column families (besides "default", which holds the meta keys).
inline constexpr char kCatalogCf[] = "catalog";
inline constexpr char kModelsCf[] = "models";
inline constexpr char kCodesCf[] = "codes";
inline constexpr char kVectorsCf[] = "vectors";
inline constexpr char kPayloadsCf[] = "payloads";
inline constexpr char kIdsCf[] = "ids";

// Meta keys in the default column family.
inline constexpr char kFormatKey[] = "qvdb.format_version";  // u32
inline constexpr char kNextCollectionIdKey[] =
    "qvdb.next_collection_id";  // u32

// Sub-kinds of keys in the ids column family, after the collection id.
inline constexpr char kCountersKind = 'c';   // -> next internal id, live rows
inline constexpr char kCodeCountKind = 'k';  // | version -> codes stored
inline constexpr char kLocatorKind = 'l';    // | version | iid -> list
inline constexpr char kRowKind = 'r';        // | iid -> encoded user id
inline constexpr char kUserKind = 'u';       // | encoded user id -> iid
// | field (u16) | value | iid -> empty: one field posting (docs/storage.md)
inline constexpr char kFieldPostingKind = 'f';
// | iid -> the row's postings (EncodeRowPostings): what to delete on replace
inline constexpr char kRowPostingsKind = 'v';

inline constexpr uint32_t kMaxCollectionId = 0xfffffffeu;

void AppendBigEndian32(std::string* out, uint32_t v);
void AppendBigEndian64(std::string* out, uint64_t v);
uint32_t ReadBigEndian32(std::string_view in);  // in.size() >= 4
uint64_t ReadBigEndian64(std::string_view in);  // in.size() >= 8

// 4 bytes: the prefix of every key of a collection in the data families.
std::string CollectionPrefix(uint32_t cid);

// models: cid | version.
std::string ModelKey(uint32_t cid, uint64_t version);
// codes: cid | version | list | iid (24 bytes).
std::string CodeKey(uint32_t cid, uint64_t version, uint32_t list,
                    uint64_t iid);
std::string CodeVersionPrefix(uint32_t cid, uint64_t version);
std::string CodeListPrefix(uint32_t cid, uint64_t version, uint32_t list);
inline constexpr size_t kCodeKeySize = 24;
struct CodeKeyParts {
  uint32_t cid;
  uint64_t version;
  uint32_t list;
  uint64_t iid;
};
absl::StatusOr<CodeKeyParts> ParseCodeKey(std::string_view key);

// vectors and payloads: cid | iid (12 bytes).
std::string RowDataKey(uint32_t cid, uint64_t iid);
absl::StatusOr<uint64_t> ParseRowDataKey(std::string_view key);

// ids family.
std::string CountersKey(uint32_t cid);
std::string CodeCountKey(uint32_t cid, uint64_t version);
std::string LocatorKey(uint32_t cid, uint64_t version, uint64_t iid);
std::string LocatorVersionPrefix(uint32_t cid, uint64_t version);
std::string RowKey(uint32_t cid, uint64_t iid);
std::string UserKey(uint32_t cid, const UserId& id);
// cid | 'f' | field | value | iid; the prefix of one field; the prefix of
// every field's postings.
std::string FieldPostingKey(uint32_t cid, uint16_t field,
                            std::string_view value, uint64_t iid);
std::string FieldPostingPrefix(uint32_t cid, uint16_t field);
std::string AllFieldPostingsPrefix(uint32_t cid);
// cid | 'v' | iid.
std::string RowPostingsKey(uint32_t cid, uint64_t iid);

// The smallest key greater than every key starting with `prefix`; empty
// when there is none (prefix all 0xff).
std::string PrefixEnd(std::string_view prefix);

// Small values.
struct Counters {
  uint64_t next_iid = 0;  // next internal id to hand out (monotonic)
  uint64_t live = 0;      // rows currently stored
};
std::string EncodeCounters(const Counters& c);
absl::StatusOr<Counters> DecodeCounters(std::string_view v);
std::string EncodeU64(uint64_t v);
absl::StatusOr<uint64_t> DecodeU64(std::string_view v, std::string_view what);
// A row's postings, the value of its RowPostingsKey: u32 count, then per
// posting u16 field, u32 length, the value bytes (little-endian).
std::string EncodeRowPostings(std::span<const FieldPosting> postings);
absl::StatusOr<std::vector<FieldPosting>> DecodeRowPostings(
    std::string_view v);
std::string EncodeU32(uint32_t v);
absl::StatusOr<uint32_t> DecodeU32(std::string_view v, std::string_view what);

}  // namespace qvdb::storage_internal
