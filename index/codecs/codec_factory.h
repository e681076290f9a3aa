// Builds codecs from specs, and saves/loads trained codecs as self-describing,
// versioned bytes (what storage/ keeps in RocksDB).
//
// Envelope format (little-endian), version kCodecFormatVersion:
//   u32 magic "QVCD" | u32 format version | string spec | i32 dim | state
// where `state` is Codec::SaveState's output. A newer version than this build
// knows is refused with FailedPrecondition; truncated or corrupt bytes with
// DataLoss.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "index/codec.h"
#include "index/codecs/index_spec.h"

namespace qvdb {

inline constexpr uint32_t kCodecMagic = 0x44435651;  // "QVCD"
inline constexpr uint32_t kCodecFormatVersion = 1;

// One codec of the given kind for vectors of `dim` dimensions (untrained).
absl::StatusOr<std::unique_ptr<Codec>> MakeCodec(const CodecSpec& spec,
                                                 int dim);
// The codec a spec stores per vector: PCA (if any) in front of spec.codec.
// IVF partitioning and Refine are the index's business, not the codec's.
absl::StatusOr<std::unique_ptr<Codec>> MakeCodecChain(const IndexSpec& spec,
                                                      int dim);
// Parses a spec such as "PCA64,PQ16x8" and builds its codec chain.
absl::StatusOr<std::unique_ptr<Codec>> MakeCodecFromString(
    std::string_view spec, int dim);

std::string SerializeCodec(const Codec& codec);
absl::StatusOr<std::unique_ptr<Codec>> DeserializeCodec(std::string_view bytes);

}  // namespace qvdb
