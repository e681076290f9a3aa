// PRIVATE header of tests/fuzz/: what the libFuzzer targets share.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

// An invariant of the code under test (not a property of the input): a
// violation aborts, and libFuzzer saves the input as a crash.
#define QVDB_FUZZ_CHECK(cond)                                              \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::fprintf(stderr, "%s:%d: QVDB_FUZZ_CHECK(%s) failed\n", __FILE__, \
                   __LINE__, #cond);                                       \
      std::abort();                                                        \
    }                                                                      \
  } while (0)

namespace qvdb::fuzz {

// ivf_model_fuzzer: the first input byte picks the index (spec, metric) the
// rest of the input is loaded into; seed_corpus_writer writes one trained
// model of each. 8-d, so that the models stay small.
inline constexpr int kIvfFuzzDim = 8;
inline constexpr const char* kIvfFuzzSpecs[] = {
    "Flat",
    "IVF4,PQ4x4fs,Refine(Flat)",
    "PCA4R,IVF2,SQ8,Refine(FP16)",
    "IVF2,RQ2x4",
    "RBQ2",
    "IVF2,RaBitQ2,Refine(SQ8),Refine(Flat)",
    "IVF3,FP8E4M3",
    "PQ2x8",
};

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// For readers that open a path: the input written to a file of this
// process (the same one every time; libFuzzer runs inputs one by one).
inline std::string WriteTempFile(const uint8_t* data, size_t size,
                                 std::string_view extension) {
  const std::string path =
      (std::filesystem::temp_directory_path() /
       ("qvdb_fuzz_" + std::to_string(::getpid()) + std::string(extension)))
          .string();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  return path;
}

}  // namespace qvdb::fuzz
