// Guards the codec envelope and every codec's model loader
// (index/codecs/codec_factory.h DeserializeCodec -> Codec::LoadState):
// stored model bytes may be damaged or foreign; they give a codec or an
// error, and a codec that loads decodes and scores a code without reading
// out of bounds. Seeds: one small trained model per codec kind.
#include <vector>

#include "index/codecs/codec_factory.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto codec = qvdb::DeserializeCodec(qvdb::fuzz::AsText(data, size));
  if (!codec.ok()) return 0;
  const qvdb::Codec& c = **codec;
  // The envelope's dimension is checked against the index by its callers
  // (IvfIndex::LoadModel); here it only bounds the work per input.
  if (!c.is_trained() || c.dim() <= 0 || c.dim() > 4096 ||
      c.code_size() > (size_t{1} << 20)) {
    return 0;
  }
  std::vector<uint8_t> code(c.code_size(), 0x5a);
  std::vector<float> x(c.dim(), 0.5f);
  c.Decode(code.data(), 1, x.data());
  std::vector<float> query(c.dim(), 0.25f);
  float distance = 0;
  c.MakeQueryDistance(query.data(), qvdb::Metric::kL2)
      ->Distances(code.data(), 1, &distance);
  c.MakeQueryDistance(query.data(), qvdb::Metric::kInnerProduct)
      ->Distances(code.data(), 1, &distance);
  return 0;
}
