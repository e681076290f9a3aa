#include "storage/user_id.h"

#include <fmt/format.h>

namespace qvdb {
namespace {

constexpr char kIntTag = 0x01;
constexpr char kStringTag = 0x02;

}  // namespace

absl::Status ValidateUserId(const UserId& id) {
  if (const auto* s = std::get_if<std::string>(&id)) {
    if (s->empty()) {
      return absl::InvalidArgumentError(
          "string user id is empty; use 1 to 1024 bytes or an integer id");
    }
    if (s->size() > kMaxUserIdBytes) {
      return absl::InvalidArgumentError(fmt::format(
          "string user id has {} bytes, more than the {} allowed; use a "
          "shorter id (e.g. a hash) and keep the long one in the payload",
          s->size(), kMaxUserIdBytes));
    }
  }
  return absl::OkStatus();
}

std::string UserIdDebugString(const UserId& id) {
  if (const auto* n = std::get_if<uint64_t>(&id)) return fmt::format("{}", *n);
  const auto& s = std::get<std::string>(id);
  constexpr size_t kShown = 64;
  if (s.size() <= kShown) return fmt::format("\"{}\"", s);
  return fmt::format("\"{}...\"", std::string_view(s).substr(0, kShown));
}

std::string EncodeUserId(const UserId& id) {
  std::string out;
  if (const auto* n = std::get_if<uint64_t>(&id)) {
    out.push_back(kIntTag);
    for (int shift = 56; shift >= 0; shift -= 8) {
      out.push_back(static_cast<char>((*n >> shift) & 0xff));
    }
    return out;
  }
  const auto& s = std::get<std::string>(id);
  out.reserve(1 + s.size());
  out.push_back(kStringTag);
  out.append(s);
  return out;
}

absl::StatusOr<UserId> DecodeUserId(std::string_view bytes) {
  if (!bytes.empty() && bytes[0] == kIntTag && bytes.size() == 9) {
    uint64_t n = 0;
    for (size_t i = 1; i < 9; ++i) {
      n = (n << 8) | static_cast<uint8_t>(bytes[i]);
    }
    return UserId(n);
  }
  if (!bytes.empty() && bytes[0] == kStringTag && bytes.size() > 1) {
    return UserId(std::string(bytes.substr(1)));
  }
  return absl::DataLossError(fmt::format(
      "stored user id is malformed ({} bytes, tag {}); the data directory "
      "is damaged, restore it from a snapshot",
      bytes.size(), bytes.empty() ? -1 : static_cast<int>(bytes[0])));
}

}  // namespace qvdb
