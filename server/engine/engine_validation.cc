#include "server/engine/engine_validation.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <unordered_set>

namespace qvdb {
namespace {

absl::Status CheckBatchSize(std::string_view collection, std::string_view what,
                            size_t n, const EngineOptions& options) {
  if (n == 0) {
    return absl::InvalidArgumentError(fmt::format(
        "collection \"{}\": the {} batch is empty; send at least one row",
        collection, what));
  }
  if (n > options.limits.max_batch_rows) {
    return absl::InvalidArgumentError(fmt::format(
        "collection \"{}\": the {} batch has {} rows, more than the limit of "
        "{}; split it into smaller batches",
        collection, what, n, options.limits.max_batch_rows));
  }
  return absl::OkStatus();
}

// InvalidArgument naming the first non-finite or too large value of v.
absl::Status CheckFiniteRow(std::string_view collection, std::string_view what,
                            const float* v, size_t dim) {
  for (size_t j = 0; j < dim; ++j) {
    if (!std::isfinite(v[j])) {
      return absl::InvalidArgumentError(fmt::format(
          "collection \"{}\": {} has a non-finite value ({}) at dimension {}; "
          "vectors must hold finite numbers only",
          collection, what, v[j], j));
    }
    if (std::fabs(v[j]) > kMaxVectorValue) {
      return absl::InvalidArgumentError(fmt::format(
          "collection \"{}\": {} has the value {} at dimension {}, beyond "
          "+-{:g}; scale the vectors down",
          collection, what, v[j], j, kMaxVectorValue));
    }
  }
  return absl::OkStatus();
}

// Checks each id and that none repeats; `ids` yields a UserId per index.
template <typename IdAt>
absl::Status CheckIds(std::string_view collection, std::string_view what,
                      size_t n, bool unique, IdAt id_at) {
  std::unordered_set<std::string> seen;
  seen.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const UserId& id = id_at(i);
    if (auto st = ValidateUserId(id); !st.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("collection \"{}\": {} row {}: {}", collection, what, i,
                      std::string(st.message())));
    }
    if (unique && !seen.insert(EncodeUserId(id)).second) {
      return absl::InvalidArgumentError(fmt::format(
          "collection \"{}\": id {} appears more than once in the {} batch "
          "(row {}); a batch may name each id once: merge the rows",
          collection, UserIdDebugString(id), what, i));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateUpsertBatch(std::string_view collection, uint32_t dim,
                                 std::span<const UpsertRow> rows,
                                 const EngineOptions& options) {
  if (auto st = CheckBatchSize(collection, "upsert", rows.size(), options);
      !st.ok()) {
    return st;
  }
  size_t bytes = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const UpsertRow& r = rows[i];
    if (r.vector.size() != dim) {
      return absl::InvalidArgumentError(fmt::format(
          "collection \"{}\": the vector of id {} (row {}) has {} dimensions, "
          "the collection has {}",
          collection, UserIdDebugString(r.id), i, r.vector.size(), dim));
    }
    if (auto st = CheckFiniteRow(
            collection,
            fmt::format("the vector of id {} (row {})",
                        UserIdDebugString(r.id), i),
            r.vector.data(), dim);
        !st.ok()) {
      return st;
    }
    if (r.payload.size() > options.limits.max_payload_bytes) {
      return absl::InvalidArgumentError(fmt::format(
          "collection \"{}\": the payload of id {} (row {}) has {} bytes, more "
          "than the limit of {}; store large documents elsewhere and keep a "
          "reference in the payload",
          collection, UserIdDebugString(r.id), i, r.payload.size(),
          options.limits.max_payload_bytes));
    }
    bytes += r.vector.size() * sizeof(float) + r.payload.size();
  }
  if (bytes > options.limits.max_batch_bytes) {
    return absl::InvalidArgumentError(fmt::format(
        "collection \"{}\": the upsert batch holds {} bytes of vectors and "
        "payloads, more than the limit of {}; split it into smaller batches",
        collection, bytes, options.limits.max_batch_bytes));
  }
  return CheckIds(collection, "upsert", rows.size(), /*unique=*/true,
                  [&](size_t i) -> const UserId& { return rows[i].id; });
}

absl::Status ValidateIdBatch(std::string_view collection, std::string_view what,
                             std::span<const UserId> ids, bool unique,
                             const EngineOptions& options) {
  if (auto st = CheckBatchSize(collection, what, ids.size(), options);
      !st.ok()) {
    return st;
  }
  return CheckIds(collection, what, ids.size(), unique,
                  [&](size_t i) -> const UserId& { return ids[i]; });
}

absl::Status ValidateSearch(std::string_view collection, uint32_t dim,
                            std::span<const float> queries,
                            const SearchOptions& search,
                            const EngineOptions& options) {
  if (queries.empty()) {
    return absl::InvalidArgumentError(fmt::format(
        "collection \"{}\": no query vector given; send at least one",
        collection));
  }
  if (queries.size() % dim != 0) {
    return absl::InvalidArgumentError(fmt::format(
        "collection \"{}\": the queries hold {} floats, not a multiple of the "
        "collection's dimension {}",
        collection, queries.size(), dim));
  }
  const size_t nq = queries.size() / dim;
  if (nq > options.limits.max_batch_rows) {
    return absl::InvalidArgumentError(fmt::format(
        "collection \"{}\": {} queries in one search, more than the limit of "
        "{}; split them",
        collection, nq, options.limits.max_batch_rows));
  }
  const Limits& limits = options.limits;
  const int max_k = std::min(limits.max_k, kMaxSearchK);
  if (search.k < 1 || search.k > max_k) {
    return absl::InvalidArgumentError(
        fmt::format("collection \"{}\": k must be between 1 and {}, got {}",
                    collection, max_k, search.k));
  }
  // Hits are what a search costs and returns: bound them here too, not
  // only at the gRPC border.
  const uint64_t hits = uint64_t(search.k) * nq;
  if (hits > limits.max_result_hits) {
    return absl::InvalidArgumentError(fmt::format(
        "collection \"{}\": k {} x {} queries = {} hits is over the limit of "
        "{} per call; send fewer queries per call or a smaller k",
        collection, search.k, nq, hits, limits.max_result_hits));
  }
  if (search.filter && search.filter->size() > limits.max_filter_ids) {
    return absl::InvalidArgumentError(fmt::format(
        "collection \"{}\": the filter's {} ids are over the limit of {}",
        collection, search.filter->size(), limits.max_filter_ids));
  }
  if (search.nprobe < 1) {
    return absl::InvalidArgumentError(
        fmt::format("collection \"{}\": nprobe must be at least 1, got {}",
                    collection, search.nprobe));
  }
  for (const auto& [name, factor] :
       {std::pair{"refine_factor", search.refine_factor},
        std::pair{"ram_refine_factor", search.ram_refine_factor}}) {
    if (factor < 1 || factor > kMaxRefineFactor) {
      return absl::InvalidArgumentError(fmt::format(
          "collection \"{}\": {} must be between 1 and {}, got {}",
          collection, name, kMaxRefineFactor, factor));
    }
  }
  for (size_t q = 0; q < nq; ++q) {
    if (auto st = CheckFiniteRow(collection, fmt::format("query {}", q),
                                 queries.data() + q * dim, dim);
        !st.ok()) {
      return st;
    }
  }
  if (search.filter) {
    for (const UserId& id : *search.filter) {
      if (auto st = ValidateUserId(id); !st.ok()) {
        return absl::InvalidArgumentError(
            fmt::format("collection \"{}\": filter: {}", collection,
                        std::string(st.message())));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace qvdb
