#include "server/auth.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

namespace qvdb {
namespace {

constexpr size_t kMinKeyLength = 16;

// The methods a read-only key may call: those that change nothing.
constexpr std::array<std::string_view, 9> kReadOnlyMethods = {
    "Search",        "SearchBatch",        "Get",          "ListCollections",
    "GetStats",      "ListSnapshots",      "DescribeCollection",
    "SampleVectors", "Count"};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() &&
           std::isspace(static_cast<unsigned char>(line[i]))) {
      ++i;
    }
    const size_t start = i;
    while (i < line.size() &&
           !std::isspace(static_cast<unsigned char>(line[i]))) {
      ++i;
    }
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Equality whose time depends on the lengths only, not on where the
// strings differ, so that a caller cannot guess a key byte by byte.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? a[i] : 0;
    const unsigned char y = i < b.size() ? b[i] : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

std::string_view ToView(const grpc::string_ref& s) {
  return std::string_view(s.data(), s.size());
}

constexpr std::string_view kHowToSend =
    "send it as `authorization: Bearer <key>` (or `x-api-key: <key>`) "
    "metadata; with the qvdb CLI use --api-key or QVDB_API_KEY";

}  // namespace

std::string_view RoleName(Role role) {
  return role == Role::kAdmin ? "admin" : "read-only";
}

bool IsReadOnlyMethod(std::string_view method) {
  return std::find(kReadOnlyMethods.begin(), kReadOnlyMethods.end(), method) !=
         kReadOnlyMethods.end();
}

absl::StatusOr<ApiKeys> ApiKeys::Parse(std::string_view text,
                                       std::string_view origin) {
  ApiKeys keys;
  std::set<std::string> names;
  size_t line_number = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++line_number;
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = Trim(line);
    if (line.empty()) continue;
    const std::vector<std::string_view> words = Words(line);
    if (words.size() < 2 || words.size() > 3) {
      return absl::InvalidArgumentError(fmt::format(
          "{}:{}: expected `KEY ROLE [NAME]` (ROLE: admin or read-only), "
          "found {} words",
          origin, line_number, words.size()));
    }
    Key key;
    key.secret = std::string(words[0]);
    if (key.secret.size() < kMinKeyLength) {
      return absl::InvalidArgumentError(fmt::format(
          "{}:{}: the key is {} characters; use at least {} random ones "
          "(e.g. `openssl rand -hex 16`)",
          origin, line_number, key.secret.size(), kMinKeyLength));
    }
    if (EqualsIgnoreCase(words[1], "admin")) {
      key.role = Role::kAdmin;
    } else if (EqualsIgnoreCase(words[1], "read-only") ||
               EqualsIgnoreCase(words[1], "readonly")) {
      key.role = Role::kReadOnly;
    } else {
      return absl::InvalidArgumentError(
          fmt::format("{}:{}: role \"{}\" is unknown; use admin or read-only",
                      origin, line_number, words[1]));
    }
    key.name = words.size() == 3 ? std::string(words[2])
                                 : fmt::format("line{}", line_number);
    for (const Key& other : keys.keys_) {
      if (other.secret == key.secret) {
        return absl::InvalidArgumentError(fmt::format(
            "{}:{}: the same key as \"{}\"; give each caller its own key",
            origin, line_number, other.name));
      }
    }
    if (!names.insert(key.name).second) {
      return absl::InvalidArgumentError(
          fmt::format("{}:{}: name \"{}\" is used twice; names tell keys "
                      "apart in logs",
                      origin, line_number, key.name));
    }
    keys.keys_.push_back(std::move(key));
  }
  if (keys.keys_.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("{} holds no keys; add lines `KEY ROLE [NAME]`", origin));
  }
  return keys;
}

absl::StatusOr<ApiKeys> ApiKeys::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(fmt::format(
        "cannot read the API keys file {}; check --api-keys", path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & S_IROTH) != 0) {
    spdlog::warn(
        "event=keys_file_world_readable path={}: anyone on this machine can "
        "read the API keys; chmod 600 it",
        path);
  }
  return Parse(text.str(), path);
}

const ApiKeys::Key* ApiKeys::Find(std::string_view secret) const {
  const Key* found = nullptr;
  for (const Key& key : keys_) {  // no early exit: same time for every key
    if (ConstantTimeEquals(key.secret, secret)) found = &key;
  }
  return found;
}

absl::Status ApiKeys::Authorize(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
    std::string_view method, const Key** caller) const {
  std::string_view secret;
  bool sent = false;
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    const std::string_view value = Trim(ToView(it->second));
    constexpr std::string_view kBearer = "bearer ";
    if (value.size() <= kBearer.size() ||
        !EqualsIgnoreCase(value.substr(0, kBearer.size()), kBearer)) {
      return absl::UnauthenticatedError(fmt::format(
          "the authorization metadata is not `Bearer <key>`; {}", kHowToSend));
    }
    secret = Trim(value.substr(kBearer.size()));
    sent = true;
  } else if (auto it = metadata.find("x-api-key"); it != metadata.end()) {
    secret = Trim(ToView(it->second));
    sent = true;
  }
  if (!sent) {
    return absl::UnauthenticatedError(
        fmt::format("this server requires an API key; {}", kHowToSend));
  }
  const Key* key = Find(secret);
  if (key == nullptr) {
    return absl::UnauthenticatedError(
        "the API key is not valid on this server; check it against the "
        "server's --api-keys file");
  }
  if (caller != nullptr) *caller = key;  // logged even when refused
  if (key->role != Role::kAdmin && !IsReadOnlyMethod(method)) {
    return absl::PermissionDeniedError(fmt::format(
        "key \"{}\" is read-only and {} changes data or runs maintenance; "
        "use an admin key",
        key->name, method));
  }
  return absl::OkStatus();
}

}  // namespace qvdb
