// API-key authentication for the qvdb.v1.Qvdb service.
//
// ApiKeys is the set of keys a server accepts, each with a role and a name
// (for logs; a key itself is never logged). It is read from a keys file,
// one key per line:
//
//   # key                               role       [name]
//   3f9c0e1b7a2d4c6e8f0a1b2c3d4e5f60    admin      ops
//   9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d    read-only  search-frontend
//
// Roles: `read-only` may call the methods that change nothing (Search,
// SearchBatch, Get, ListCollections, DescribeCollection, GetStats,
// ListSnapshots); `admin` may call every method. Keys are at least 16
// characters without spaces; `#` starts a comment.
//
// A caller sends its key in gRPC metadata, `authorization: Bearer <key>`
// or `x-api-key: <key>`. Authorize() answers UNAUTHENTICATED for a missing
// or unknown key and PERMISSION_DENIED for a read-only key calling an admin
// method, each with a message saying what to do.
//
// The standard health service and server reflection need no key: they
// reveal no data, and load balancers' health probes send no metadata.
//
// Thread safety: an ApiKeys is immutable after Parse/Load; Authorize may be
// called from any number of threads.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/support/string_ref.h"

namespace qvdb {

enum class Role { kReadOnly, kAdmin };

std::string_view RoleName(Role role);

// Whether `method` (the short name, e.g. "Search") of qvdb.v1.Qvdb may be
// called with a read-only key. Unknown methods need admin.
bool IsReadOnlyMethod(std::string_view method);

class ApiKeys {
 public:
  struct Key {
    std::string secret;
    Role role = Role::kReadOnly;
    std::string name;  // logged instead of the key
  };

  // Parses a keys file's text; `origin` (the path) names it in errors,
  // which give the line number but never the key.
  static absl::StatusOr<ApiKeys> Parse(std::string_view text,
                                       std::string_view origin);
  static absl::StatusOr<ApiKeys> Load(const std::string& path);

  size_t size() const { return keys_.size(); }

  // The key sent with a call, or nullptr when it is not one of ours.
  // Compares in time independent of where the keys differ.
  const Key* Find(std::string_view secret) const;

  // Checks the key in `metadata` (a call's client metadata) for `method`.
  // Sets *caller (when non-null) to the key once it is known, also when
  // its role is refused (PERMISSION_DENIED), so that logs can name it.
  absl::Status Authorize(
      const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
      std::string_view method, const Key** caller) const;

 private:
  std::vector<Key> keys_;
};

}  // namespace qvdb
