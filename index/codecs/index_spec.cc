#include "index/codecs/index_spec.h"

#include <charconv>
#include <vector>

#include <fmt/format.h>
#include "base/status_macros.h"

namespace qvdb {
namespace {

constexpr char kCodecForms[] =
    "Flat, FP16, SQ8, FP8E4M3, FP8E5M2, PQ<M>x<4|8>[fs], RQ<M>x<nbits>, "
    "RBQ<B>, RaBitQ<b>";
constexpr char kSpecForm[] =
    "[PCA<dims>[R],][IVF<nlist>,][codec][,Refine(codec)][,Refine(codec)]";

absl::Status BadToken(std::string_view token, std::string_view why) {
  return absl::InvalidArgumentError(fmt::format(
      "bad index spec token \"{}\": {}. Spec form: {}; codecs: {}", token,
      why, kSpecForm, kCodecForms));
}

bool ConsumePrefix(std::string_view* s, std::string_view prefix) {
  if (!s->starts_with(prefix)) return false;
  s->remove_prefix(prefix.size());
  return true;
}

bool ConsumeSuffix(std::string_view* s, std::string_view suffix) {
  if (!s->ends_with(suffix)) return false;
  s->remove_suffix(suffix.size());
  return true;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (size_t pos; (pos = s.find(sep)) != std::string_view::npos;) {
    out.push_back(s.substr(0, pos));
    s.remove_prefix(pos + 1);
  }
  out.push_back(s);
  return out;
}

// Consumes a positive decimal integer from the front of *s.
bool ConsumeInt(std::string_view* s, int* value) {
  const char* end = s->data() + s->size();
  auto [ptr, ec] = std::from_chars(s->data(), end, *value);
  if (ec != std::errc() || ptr == s->data() || *value <= 0) return false;
  s->remove_prefix(ptr - s->data());
  return true;
}

bool IsCodecToken(std::string_view t) {
  return t == "Flat" || t == "FP16" || t == "SQ8" ||
         t.starts_with("FP8") || t.starts_with("PQ") ||
         t.starts_with("RQ") || t.starts_with("RBQ") ||
         t.starts_with("RaBitQ");
}

}  // namespace

absl::StatusOr<CodecSpec> ParseCodecSpec(std::string_view token) {
  CodecSpec c;
  if (token == "Flat") return c;
  if (token == "FP16") return c.kind = CodecKind::kFP16, c;
  if (token == "SQ8") return c.kind = CodecKind::kSQ8, c;
  if (token == "FP8E4M3") return c.kind = CodecKind::kFP8E4M3, c;
  if (token == "FP8E5M2") return c.kind = CodecKind::kFP8E5M2, c;
  std::string_view s = token;
  if (ConsumePrefix(&s, "RBQ")) {
    c.kind = CodecKind::kRBQ;
    if (!ConsumeInt(&s, &c.levels) || !s.empty() || c.levels > 8) {
      return BadToken(token, "RBQ takes 1 to 8 binary levels, as in RBQ2");
    }
    return c;
  }
  if (ConsumePrefix(&s, "RaBitQ")) {
    c.kind = CodecKind::kRaBitQ;
    if (!ConsumeInt(&s, &c.nbits) || !s.empty() || c.nbits > 8) {
      return BadToken(token,
                      "RaBitQ takes 1 to 8 bits per dimension, as in RaBitQ1");
    }
    return c;
  }
  const bool pq = ConsumePrefix(&s, "PQ");
  if (pq || ConsumePrefix(&s, "RQ")) {
    c.kind = pq ? CodecKind::kPQ : CodecKind::kRQ;
    if (!ConsumeInt(&s, &c.m)) {
      return BadToken(token, "expected the number of sub-codes, as in PQ32x8");
    }
    c.nbits = 8;
    if (ConsumePrefix(&s, "x") && !ConsumeInt(&s, &c.nbits)) {
      return BadToken(token, "expected bits per sub-code after 'x'");
    }
    if (pq && ConsumePrefix(&s, "fs")) c.fast_scan = true;
    if (!s.empty()) return BadToken(token, "unexpected trailing characters");
    if (pq && c.nbits != 4 && c.nbits != 8) {
      return BadToken(token, "PQ codes have 4 or 8 bits");
    }
    if (c.fast_scan && c.nbits != 4) {
      return BadToken(token, "fast scan (fs) needs 4-bit codes, as in PQ32x4fs");
    }
    if (!pq && c.nbits > 16) {
      return BadToken(token, "RQ codes have 1 to 16 bits per stage");
    }
    return c;
  }
  return BadToken(token, "not a codec");
}

absl::StatusOr<IndexSpec> ParseIndexSpec(std::string_view text) {
  IndexSpec spec;
  if (text.empty()) return BadToken(text, "the spec is empty");
  std::vector<std::string_view> tokens = Split(text, ',');
  size_t i = 0;
  auto at = [&](size_t k) { return k < tokens.size() ? tokens[k] : ""; };

  if (at(i).starts_with("PCA")) {
    std::string_view s = tokens[i];
    s.remove_prefix(3);
    if (!ConsumeInt(&s, &spec.pca_dim)) {
      return BadToken(tokens[i], "expected output dimensions, as in PCA64");
    }
    spec.pca_rotation = ConsumePrefix(&s, "R");
    if (!s.empty()) return BadToken(tokens[i], "unexpected trailing characters");
    ++i;
  }
  if (at(i).starts_with("IVF")) {
    std::string_view s = tokens[i];
    s.remove_prefix(3);
    if (!ConsumeInt(&s, &spec.ivf_nlist) || !s.empty()) {
      return BadToken(tokens[i], "expected a list count, as in IVF1024");
    }
    ++i;
  }
  if (i < tokens.size() && IsCodecToken(tokens[i])) {
    ASSIGN_OR_RETURN(spec.codec, ParseCodecSpec(tokens[i]));
    ++i;
  }
  // Up to two Refine stages: with two, the first is the RAM tier.
  std::vector<CodecSpec> stages;
  for (; i < tokens.size(); ++i) {
    std::string_view s = tokens[i];
    if (stages.size() == 2) {
      return BadToken(tokens[i],
                      "at most two Refine stages: Refine(<RAM codec>),"
                      "Refine(<final codec>)");
    }
    if (!ConsumePrefix(&s, "Refine(") || !ConsumeSuffix(&s, ")")) {
      return BadToken(tokens[i], "expected a codec or Refine(<codec>) here");
    }
    ASSIGN_OR_RETURN(CodecSpec stage, ParseCodecSpec(s));
    stages.push_back(stage);
  }
  if (!stages.empty()) spec.refine = stages.back();
  if (stages.size() == 2) spec.ram_refine = stages.front();
  return spec;
}

std::string CodecSpec::ToString() const {
  switch (kind) {
    case CodecKind::kFlat:
      return "Flat";
    case CodecKind::kFP16:
      return "FP16";
    case CodecKind::kSQ8:
      return "SQ8";
    case CodecKind::kFP8E4M3:
      return "FP8E4M3";
    case CodecKind::kFP8E5M2:
      return "FP8E5M2";
    case CodecKind::kPQ:
      return fmt::format("PQ{}x{}{}", m, nbits, fast_scan ? "fs" : "");
    case CodecKind::kRQ:
      return fmt::format("RQ{}x{}", m, nbits);
    case CodecKind::kRBQ:
      return fmt::format("RBQ{}", levels);
    case CodecKind::kRaBitQ:
      return fmt::format("RaBitQ{}", nbits);
  }
  return "?";
}

std::string IndexSpec::ToString() const {
  std::string out;
  if (pca_dim > 0) out += fmt::format("PCA{}{},", pca_dim, pca_rotation ? "R" : "");
  if (ivf_nlist > 0) out += fmt::format("IVF{},", ivf_nlist);
  out += codec.ToString();
  if (ram_refine) out += fmt::format(",Refine({})", ram_refine->ToString());
  if (refine) out += fmt::format(",Refine({})", refine->ToString());
  return out;
}

}  // namespace qvdb
