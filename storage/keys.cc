#include "storage/keys.h"

#include <fmt/format.h>

#include <cstring>

#include "base/byte_io.h"

namespace qvdb::storage_internal {
namespace {

absl::Status Damaged(std::string_view what, size_t size) {
  return absl::DataLossError(fmt::format(
      "stored {} is malformed ({} bytes); the data directory is damaged, "
      "restore it from a snapshot",
      what, size));
}

}  // namespace

void AppendBigEndian32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

void AppendBigEndian64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

uint32_t ReadBigEndian32(std::string_view in) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

uint64_t ReadBigEndian64(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

std::string CollectionPrefix(uint32_t cid) {
  std::string k;
  AppendBigEndian32(&k, cid);
  return k;
}

std::string ModelKey(uint32_t cid, uint64_t version) {
  std::string k = CollectionPrefix(cid);
  AppendBigEndian64(&k, version);
  return k;
}

std::string CodeVersionPrefix(uint32_t cid, uint64_t version) {
  return ModelKey(cid, version);
}

std::string CodeListPrefix(uint32_t cid, uint64_t version, uint32_t list) {
  std::string k = CodeVersionPrefix(cid, version);
  AppendBigEndian32(&k, list);
  return k;
}

std::string CodeKey(uint32_t cid, uint64_t version, uint32_t list,
                    uint64_t iid) {
  std::string k = CodeListPrefix(cid, version, list);
  AppendBigEndian64(&k, iid);
  return k;
}

absl::StatusOr<CodeKeyParts> ParseCodeKey(std::string_view key) {
  if (key.size() != kCodeKeySize) return Damaged("code key", key.size());
  return CodeKeyParts{ReadBigEndian32(key), ReadBigEndian64(key.substr(4)),
                      ReadBigEndian32(key.substr(12)),
                      ReadBigEndian64(key.substr(16))};
}

std::string RowDataKey(uint32_t cid, uint64_t iid) {
  std::string k = CollectionPrefix(cid);
  AppendBigEndian64(&k, iid);
  return k;
}

absl::StatusOr<uint64_t> ParseRowDataKey(std::string_view key) {
  if (key.size() != 12) return Damaged("vector or payload key", key.size());
  return ReadBigEndian64(key.substr(4));
}

std::string CountersKey(uint32_t cid) {
  std::string k = CollectionPrefix(cid);
  k.push_back(kCountersKind);
  return k;
}

std::string CodeCountKey(uint32_t cid, uint64_t version) {
  std::string k = CollectionPrefix(cid);
  k.push_back(kCodeCountKind);
  AppendBigEndian64(&k, version);
  return k;
}

std::string LocatorVersionPrefix(uint32_t cid, uint64_t version) {
  std::string k = CollectionPrefix(cid);
  k.push_back(kLocatorKind);
  AppendBigEndian64(&k, version);
  return k;
}

std::string LocatorKey(uint32_t cid, uint64_t version, uint64_t iid) {
  std::string k = LocatorVersionPrefix(cid, version);
  AppendBigEndian64(&k, iid);
  return k;
}

std::string RowKey(uint32_t cid, uint64_t iid) {
  std::string k = CollectionPrefix(cid);
  k.push_back(kRowKind);
  AppendBigEndian64(&k, iid);
  return k;
}

std::string UserKey(uint32_t cid, const UserId& id) {
  std::string k = CollectionPrefix(cid);
  k.push_back(kUserKind);
  k.append(EncodeUserId(id));
  return k;
}

std::string AllFieldPostingsPrefix(uint32_t cid) {
  std::string k = CollectionPrefix(cid);
  k.push_back(kFieldPostingKind);
  return k;
}

std::string FieldPostingPrefix(uint32_t cid, uint16_t field) {
  std::string k = AllFieldPostingsPrefix(cid);
  k.push_back(static_cast<char>(field >> 8));
  k.push_back(static_cast<char>(field & 0xff));
  return k;
}

std::string FieldPostingKey(uint32_t cid, uint16_t field,
                            std::string_view value, uint64_t iid) {
  std::string k = FieldPostingPrefix(cid, field);
  k.append(value);
  AppendBigEndian64(&k, iid);
  return k;
}

std::string RowPostingsKey(uint32_t cid, uint64_t iid) {
  std::string k = CollectionPrefix(cid);
  k.push_back(kRowPostingsKind);
  AppendBigEndian64(&k, iid);
  return k;
}

std::string EncodeRowPostings(std::span<const FieldPosting> postings) {
  std::string out;
  auto put = [&out](auto v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof(v));
  };
  put(uint32_t(postings.size()));
  for (const FieldPosting& p : postings) {
    put(p.field);
    put(uint32_t(p.value.size()));
    out.append(p.value);
  }
  return out;
}

absl::StatusOr<std::vector<FieldPosting>> DecodeRowPostings(
    std::string_view v) {
  const size_t size = v.size();
  auto get = [&v](auto* x) {
    if (v.size() < sizeof(*x)) return false;
    std::memcpy(x, v.data(), sizeof(*x));
    v.remove_prefix(sizeof(*x));
    return true;
  };
  uint32_t n = 0;
  if (!get(&n) || n > v.size() / 6) return Damaged("row postings", size);
  std::vector<FieldPosting> out(n);
  for (FieldPosting& p : out) {
    uint32_t len = 0;
    if (!get(&p.field) || !get(&len) || len > v.size()) {
      return Damaged("row postings", size);
    }
    p.value.assign(v.data(), len);
    v.remove_prefix(len);
  }
  if (!v.empty()) return Damaged("row postings", size);
  return out;
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last != 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return end;
}

std::string EncodeCounters(const Counters& c) {
  ByteWriter w;
  w.Put<uint64_t>(c.next_iid);
  w.Put<uint64_t>(c.live);
  return w.Release();
}

absl::StatusOr<Counters> DecodeCounters(std::string_view v) {
  if (v.size() != 16) return Damaged("collection counters", v.size());
  Counters c;
  std::memcpy(&c.next_iid, v.data(), 8);
  std::memcpy(&c.live, v.data() + 8, 8);
  return c;
}

std::string EncodeU64(uint64_t v) {
  ByteWriter w;
  w.Put<uint64_t>(v);
  return w.Release();
}

absl::StatusOr<uint64_t> DecodeU64(std::string_view v, std::string_view what) {
  if (v.size() != 8) return Damaged(what, v.size());
  uint64_t out;
  std::memcpy(&out, v.data(), 8);
  return out;
}

std::string EncodeU32(uint32_t v) {
  ByteWriter w;
  w.Put<uint32_t>(v);
  return w.Release();
}

absl::StatusOr<uint32_t> DecodeU32(std::string_view v, std::string_view what) {
  if (v.size() != 4) return Damaged(what, v.size());
  uint32_t out;
  std::memcpy(&out, v.data(), 4);
  return out;
}

}  // namespace qvdb::storage_internal
