// Field postings: scans for loading, and the backfill of fields added to a
// collection with rows (docs/storage.md, "Field postings"). Write() keeps
// each row's postings with the row (storage_write.cc).
#include "base/status_macros.h"
#include "storage/storage_impl.h"
#include "storage/storage_impl_internal.h"

namespace qvdb::storage_internal {

absl::Status StorageImpl::ScanFieldPostings(
    std::string_view collection, uint16_t field,
    absl::FunctionRef<absl::Status(std::string_view, uint64_t)> fn) const {
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(collection, rocksdb::ReadOptions()));
  const std::string prefix = FieldPostingPrefix(rec.id, field);
  return ScanPrefix(
      kIds, prefix, [&](std::string_view k, std::string_view) -> absl::Status {
        if (k.size() < prefix.size() + 8) {
          return absl::DataLossError(fmt::format(
              "collection \"{}\": a field posting key of {} bytes; restore "
              "the data directory from a snapshot",
              collection, k.size()));
        }
        return fn(k.substr(prefix.size(), k.size() - prefix.size() - 8),
                  ReadBigEndian64(k.substr(k.size() - 8)));
      });
}

absl::Status StorageImpl::ClearFieldPostings(std::string_view collection,
                                             uint16_t first_field) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(collection, rocksdb::ReadOptions()));
  Txn txn(db_);
  txn.DeleteRange(kIds, FieldPostingPrefix(rec.id, first_field),
                  PrefixEnd(AllFieldPostingsPrefix(rec.id)));
  return Commit(txn, /*always_sync=*/false,
                fmt::format("clearing the postings of fields {} and later in "
                            "collection \"{}\"",
                            first_field, collection));
}

absl::StatusOr<size_t> StorageImpl::PutFieldPostings(
    std::string_view collection, uint16_t first_field,
    std::span<const RowPostings> rows) {
  for (const RowPostings& row : rows) {
    for (const FieldPosting& p : row.postings) {
      if (p.field < first_field) {
        return absl::InvalidArgumentError(fmt::format(
            "collection \"{}\", internal id {}: a posting of field {} in a "
            "backfill of fields {} and later",
            collection, row.internal_id, p.field, first_field));
      }
    }
  }
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(collection, rocksdb::ReadOptions()));
  const uint32_t cid = rec.id;
  Txn txn(db_);
  size_t written = 0;
  for (const RowPostings& row : rows) {
    ASSIGN_OR_RETURN(auto live, txn.Get(kIds, RowKey(cid, row.internal_id)));
    if (!live) continue;  // deleted since it was scanned
    ASSIGN_OR_RETURN(std::vector<FieldPosting> postings,
                     RemovePostings(txn, cid, row.internal_id, first_field));
    postings.insert(postings.end(), row.postings.begin(), row.postings.end());
    PutPostings(txn, cid, row.internal_id, postings);
    ++written;
  }
  RETURN_IF_ERROR(Commit(
      txn, /*always_sync=*/false,
      fmt::format("writing the field postings of {} row(s) of collection "
                  "\"{}\"",
                  rows.size(), collection)));
  return written;
}

absl::StatusOr<CollectionRecord> StorageImpl::SetFieldSchema(
    std::string_view collection, std::string_view field_schema,
    uint32_t postings_fields, uint32_t collection_id) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(CollectionRecord rec,
                   LoadRecord(collection, rocksdb::ReadOptions()));
  if (collection_id != 0 && rec.id != collection_id) {
    return absl::NotFoundError(fmt::format(
        "collection \"{}\" was dropped and created again during the call",
        collection));
  }
  rec.field_schema = std::string(field_schema);
  rec.postings_fields = postings_fields;
  rec.format_version = kCollectionRecordVersion;  // holds both
  Txn txn(db_);
  txn.Put(kCatalog, rec.name, EncodeCollectionRecord(rec));
  RETURN_IF_ERROR(
      Commit(txn, /*always_sync=*/true,
             fmt::format("changing the fields of collection \"{}\"",
                         collection)));
  return rec;
}

}  // namespace qvdb::storage_internal
