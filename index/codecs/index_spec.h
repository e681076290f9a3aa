// The index spec: a short string users read and write, parsed into a typed
// config. Grammar (docs/spec.md has the full table):
//
//   spec    := [transform ","] [ivf ","] [codec] ["," refine]
//   transform := "PCA" <dims> ["R"]        PCA to <dims>, "R": then rotate
//   ivf     := "IVF" <nlist>
//   codec   := "Flat" | "FP16" | "SQ8" | "FP8E4M3" | "FP8E5M2"
//            | "PQ" <M> ["x" <4|8>] ["fs"] | "RQ" <M> ["x" <nbits>]
//            | "RBQ" <B> | "RaBitQ" <b>
//   refine  := "Refine(" codec ")" ["," "Refine(" codec ")"]
//
// With two Refine stages the first is a RAM tier (`ram_refine`): it
// re-scores k * ram_refine_factor scan candidates and passes the best
// k * refine_factor to the last stage, which may live on disk.
// A missing codec means Flat (so "PCA64" is PCA to 64 float32 dimensions).
// Examples: "FP8E4M3", "PCA192,FP8E4M3", "PCA64,PQ16x8", "RBQ2", "RaBitQ1",
// "IVF1024,PQ32x4fs,Refine(FP8E4M3)",
// "IVF4096,PQ32x4fs,Refine(SQ8),Refine(Flat)".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace qvdb {

enum class CodecKind {
  kFlat,
  kFP16,
  kSQ8,
  kFP8E4M3,
  kFP8E5M2,
  kPQ,
  kRQ,
  kRBQ,
  kRaBitQ,
};

struct CodecSpec {
  CodecKind kind = CodecKind::kFlat;
  int m = 0;               // PQ: sub-quantizers; RQ: stages
  int nbits = 0;           // PQ: 4 or 8; RQ: 1..16 bits per stage;
                           // RaBitQ: 1..8 bits per dimension
  bool fast_scan = false;  // PQ x4 only: SIMD fast-scan list layout
  int levels = 0;          // RBQ: binary vectors (bits) per dimension

  std::string ToString() const;
  bool operator==(const CodecSpec&) const = default;
};

struct IndexSpec {
  int pca_dim = 0;            // 0: no PCA
  bool pca_rotation = false;  // random orthogonal rotation after PCA
  int ivf_nlist = 0;          // 0: flat (no coarse partitioning)
  CodecSpec codec;
  // Re-ranking stages in the original space, in order: an optional RAM
  // tier, then the last stage (on disk when it is Flat and the server keeps
  // refine vectors there). ram_refine is set only with refine.
  std::optional<CodecSpec> ram_refine;
  std::optional<CodecSpec> refine;

  // Canonical form; ParseIndexSpec(ToString()) gives back the same spec.
  std::string ToString() const;
  bool operator==(const IndexSpec&) const = default;
};

// InvalidArgument naming the bad token and listing the valid forms.
absl::StatusOr<IndexSpec> ParseIndexSpec(std::string_view text);
absl::StatusOr<CodecSpec> ParseCodecSpec(std::string_view token);

}  // namespace qvdb
