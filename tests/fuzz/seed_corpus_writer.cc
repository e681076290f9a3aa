// Writes the fuzzers' seed corpus (tests/fuzz/corpus/<target>/): small valid
// inputs of every kind, so that the bounded CI runs start past the format
// checks. Run by hand after a format change:
//   build/asan/tests/fuzz/seed_corpus_writer tests/fuzz/corpus
// Deterministic: the same build writes the same files.
#include <hdf5.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "index/codecs/codec_factory.h"
#include "index/vector_index.h"
#include "qvdb/v1/qvdb.pb.h"
#include "storage/collection_record.h"
#include "storage/keys.h"
#include "storage/user_id.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

namespace fs = std::filesystem;

fs::path root;

void Write(const std::string& target, const std::string& name,
           std::string_view bytes) {
  const fs::path dir = root / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary)
      .write(bytes.data(), std::streamsize(bytes.size()));
}

std::string Tagged(uint8_t tag, std::string_view body) {
  return std::string(1, char(tag)) + std::string(body);
}

std::vector<float> Random(size_t n, int dim) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> x(n * dim);
  for (float& v : x) v = normal(rng);
  return x;
}

void Texts() {
  const char* specs[] = {"Flat", "PCA64,FP8E4M3", "IVF1024,PQ32x4fs,Refine(FP8E4M3)",
                         "IVF4096,PQ32x4fs,Refine(SQ8),Refine(Flat)",
                         "PCA64R,RQ8x6", "RBQ2", "RaBitQ4", "FP16", "PQ16x8"};
  int i = 0;
  for (const char* s : specs) Write("index_spec", std::to_string(i++), s);
  const char* filters[] = {
      R"(lang = "en" and year >= 2020)",
      R"(tags in ("faq", "howto") or not public = true)",
      R"((score > 0.5 and score <= 1e3) or exists notes)",
      R"(at < 1700000000000000 and lang != "de")",
      R"(not (year in (1999, 2000, -5)))",
      "lang:keyword,year:int64,notes:keyword:unindexed"};
  i = 0;
  for (const char* f : filters) Write("filter_parser", std::to_string(i++), f);
  Write("jsonl_reader", "0",
        "{\"id\": \"doc-7\", \"vector\": [0.1, 0.2, 0.3], \"payload\": "
        "{\"text\": \"a\"}}\n{\"id\": 8, \"vector\": [1, 2, 3e-3], "
        "\"payload\": \"plain\"}\n\n{\"vector\": [-1, 0, 1]}\n");
}

void Codecs() {
  const char* specs[] = {"Flat",  "FP16",     "SQ8",     "FP8E4M3",
                         "FP8E5M2", "PQ4x8",  "PQ4x4",   "PQ4x4fs",
                         "RQ2x4", "RBQ2",     "RaBitQ1", "RaBitQ4",
                         "PCA4,SQ8", "PCA4R,PQ2x4"};
  constexpr int kDim = 8;
  for (const char* s : specs) {
    auto codec = qvdb::MakeCodecFromString(s, kDim);
    QVDB_FUZZ_CHECK(codec.ok());
    const size_t n = std::max<size_t>((*codec)->min_train_size(), 300);
    const std::vector<float> x = Random(n, kDim);
    QVDB_FUZZ_CHECK((*codec)->Train(x.data(), n).ok());
    Write("codec_model", s, qvdb::SerializeCodec(**codec));
  }
}

void IvfModels() {
  using qvdb::fuzz::kIvfFuzzDim;
  constexpr size_t kSpecs = std::size(qvdb::fuzz::kIvfFuzzSpecs);
  for (size_t i = 0; i < kSpecs; ++i) {
    const char* s = qvdb::fuzz::kIvfFuzzSpecs[i];
    auto spec = qvdb::ParseIndexSpec(s);
    QVDB_FUZZ_CHECK(spec.ok());
    auto index = qvdb::CreateVectorIndex(*spec, kIvfFuzzDim, qvdb::Metric::kL2);
    QVDB_FUZZ_CHECK(index.ok());
    const size_t n = std::max<size_t>((*index)->min_train_size(), 300);
    const std::vector<float> x = Random(n, kIvfFuzzDim);
    QVDB_FUZZ_CHECK((*index)->Train(x.data(), n).ok());
    Write("ivf_model", std::to_string(i),
          Tagged(uint8_t(i), (*index)->SerializeModel()));
  }
}

void Storage() {
  namespace si = qvdb::storage_internal;
  qvdb::CollectionRecord r;
  r.id = 3;
  r.name = "docs";
  r.dim = 384;
  r.metric = qvdb::Metric::kCosine;
  r.index_spec = "IVF16,PQ96x4fs,Refine(Flat)";
  r.field_schema = "category:keyword";
  r.state = qvdb::CollectionState::kTrained;
  r.created_unix_micros = 1764800000000000;
  r.model_version = 2;
  Write("storage_decode", "record", Tagged(0, qvdb::EncodeCollectionRecord(r)));
  Write("storage_decode", "user_u64",
        Tagged(1, qvdb::EncodeUserId(qvdb::UserId(uint64_t{42}))));
  Write("storage_decode", "user_str",
        Tagged(1, qvdb::EncodeUserId(qvdb::UserId(std::string("doc-7")))));
  Write("storage_decode", "code_key", Tagged(2, si::CodeKey(3, 2, 17, 99)));
  Write("storage_decode", "row_key", Tagged(3, si::RowDataKey(3, 99)));
  Write("storage_decode", "counters",
        Tagged(4, si::EncodeCounters({.next_iid = 100, .live = 90})));
  Write("storage_decode", "u64", Tagged(5, si::EncodeU64(123456789)));
  Write("storage_decode", "u32", Tagged(6, si::EncodeU32(77)));
}

void Requests() {
  namespace v1 = qvdb::v1;
  v1::UpsertRequest upsert;
  upsert.set_collection("docs");
  for (int i = 0; i < 2; ++i) {
    v1::Row* row = upsert.add_rows();
    if (i == 0) {
      row->mutable_id()->set_u64(7);
    } else {
      row->mutable_id()->set_str("doc-8");
    }
    for (int d = 0; d < 4; ++d) row->add_vector(0.5f * d - i);
    row->set_payload(
        R"({"lang": "en", "year": 2021, "score": 0.5, "public": true,)"
        R"( "at": 1700000000000000, "tags": ["faq", "x"]})");
  }
  Write("request_validation", "upsert", Tagged(0, upsert.SerializeAsString()));
  v1::DeleteRequest del;
  del.set_collection("docs");
  del.add_ids()->set_u64(7);
  del.add_ids()->set_str("doc-8");
  Write("request_validation", "delete", Tagged(1, del.SerializeAsString()));
  Write("request_validation", "get", Tagged(2, del.SerializeAsString()));
  v1::SearchParams params;
  params.set_k(5);
  params.set_nprobe(4);
  params.set_refine_factor(2);
  params.set_filter_expr(R"(lang = "en" and year >= 2020)");
  params.mutable_filter()->add_ids()->set_u64(7);
  v1::SearchRequest search;
  search.set_collection("docs");
  for (int d = 0; d < 4; ++d) search.add_vector(0.25f * d);
  *search.mutable_params() = params;
  Write("request_validation", "search", Tagged(3, search.SerializeAsString()));
  v1::SearchBatchRequest batch;
  batch.set_collection("docs");
  for (int q = 0; q < 2; ++q) {
    v1::Vector* v = batch.add_queries();
    for (int d = 0; d < 4; ++d) v->add_values(float(q + d));
  }
  *batch.mutable_params() = params;
  Write("request_validation", "search_batch",
        Tagged(4, batch.SerializeAsString()));
  v1::CreateCollectionRequest create;
  create.set_name("docs");
  create.set_dimension(4);
  create.set_metric(v1::METRIC_COSINE);
  create.set_index_spec("IVF16,PQ2x4fs,Refine(Flat)");
  v1::FieldSpec* f = create.add_fields();
  f->set_name("lang");
  f->set_type("keyword");
  f = create.add_fields();
  f->set_name("tags");
  f->set_type("keyword_list");
  f->set_indexed(false);
  Write("request_validation", "create", Tagged(5, create.SerializeAsString()));
}

void Npy() {
  // Version 1.0, little-endian float32, 3 x 4; then float16, 1-D.
  auto npy = [](std::string dict, std::string_view data) {
    std::string header = "\x93NUMPY\x01";
    header += '\0';
    while ((10 + dict.size() + 1) % 64 != 0) dict += ' ';
    dict += '\n';
    header += char(dict.size() & 0xff);
    header += char(dict.size() >> 8);
    return header + dict + std::string(data);
  };
  std::vector<float> f4(12);
  for (int i = 0; i < 12; ++i) f4[i] = 0.5f * i;
  Write("npy_reader", "f4",
        npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }",
            std::string_view(reinterpret_cast<const char*>(f4.data()),
                             f4.size() * 4)));
  const uint16_t f2[3] = {0x3c00, 0xc000, 0x7bff};  // 1, -2, 65504
  Write("npy_reader", "f2",
        npy("{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }",
            std::string_view(reinterpret_cast<const char*>(f2), 6)));
}

void Hdf5() {
  const fs::path dir = root / "hdf5_reader";
  fs::create_directories(dir);
  const std::string path = (dir / "train_3x4").string();
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT,
                               H5P_DEFAULT);
  QVDB_FUZZ_CHECK(file >= 0);
  const hsize_t dims[2] = {3, 4};
  const hid_t space = H5Screate_simple(2, dims, nullptr);
  const hid_t set = H5Dcreate2(file, "train", H5T_IEEE_F32LE, space,
                               H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const float values[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  QVDB_FUZZ_CHECK(H5Dwrite(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL,
                           H5P_DEFAULT, values) >= 0);
  H5Dclose(set);
  H5Sclose(space);
  H5Fclose(file);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: seed_corpus_writer DIR (tests/fuzz/corpus)\n";
    return 2;
  }
  root = argv[1];
  Texts();
  Codecs();
  IvfModels();
  Storage();
  Requests();
  Npy();
  Hdf5();
  return 0;
}
