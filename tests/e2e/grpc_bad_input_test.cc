// Bad input through gRPC: every validation rule of the service and the
// engine answers with the status code that fits and a message saying what
// to fix; oversized messages, unknown fields, empty and huge batches,
// concurrent create/drop of one name, requests after drop. Throughout, a
// "keep" collection shows the server stays up and loses nothing.
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <thread>

#include "tests/e2e/service_test_util.h"

namespace qvdb {
namespace {

using service_testing::ClientFor;
using service_testing::RawCall;
using service_testing::StartServer;
using service_testing::TempDir;
using service_testing::TestConfig;

constexpr int kDim = 8;
constexpr int kKeepRows = 100;
constexpr int kMaxMessage = 2 << 20;  // small, so oversize is cheap to send

std::vector<float> Vec(uint64_t seed) {
  std::vector<float> v(kDim);
  for (int i = 0; i < kDim; ++i) v[i] = std::sin(seed * 7.0f + i);
  return v;
}

v1::Row Row(uint64_t id, std::vector<float> v = {}) {
  v1::Row row;
  row.mutable_id()->set_u64(id);
  if (v.empty()) v = Vec(id);
  row.mutable_vector()->Add(v.begin(), v.end());
  return row;
}

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerConfig config = TestConfig(dir_.Sub("data"));
    config.limits.max_message_bytes = kMaxMessage;
    server_ = StartServer(config);
    ASSERT_NE(server_, nullptr);
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(-1);  // let oversized requests reach the server
    args.SetMaxReceiveMessageSize(-1);
    channel_ = grpc::CreateCustomChannel(
        server_->address(), grpc::InsecureChannelCredentials(), args);
    stub_ = v1::Qvdb::NewStub(channel_);

    // The collection that must come through everything unchanged.
    ASSERT_EQ(Create("keep", kDim, v1::METRIC_L2, "Flat").error_code(),
              grpc::StatusCode::OK);
    v1::UpsertRequest up;
    up.set_collection("keep");
    for (int i = 0; i < kKeepRows; ++i) *up.add_rows() = Row(i);
    v1::UpsertResponse r;
    ASSERT_TRUE(Call(&v1::Qvdb::Stub::Upsert, up, &r).ok());
  }

  void TearDown() override {
    // The server is up and "keep" lost nothing.
    auto health = RawCall(channel_, "/grpc.health.v1.Health/Check", "");
    ASSERT_TRUE(health.ok()) << health.status();
    EXPECT_EQ(*health, std::string("\x08\x01", 2));
    v1::DescribeCollectionRequest d;
    d.set_name("keep");
    v1::DescribeCollectionResponse dr;
    ASSERT_TRUE(Call(&v1::Qvdb::Stub::DescribeCollection, d, &dr).ok());
    EXPECT_EQ(dr.collection().live_rows(), uint64_t(kKeepRows));
    v1::SearchRequest s;
    s.set_collection("keep");
    const auto v = Vec(42);
    s.mutable_vector()->Add(v.begin(), v.end());
    s.mutable_params()->set_k(1);
    v1::SearchResponse sr;
    ASSERT_TRUE(Call(&v1::Qvdb::Stub::Search, s, &sr).ok());
    ASSERT_EQ(sr.hits_size(), 1);
    EXPECT_EQ(sr.hits(0).id().u64(), 42u);
  }

  template <typename Req, typename Resp>
  grpc::Status Call(grpc::Status (v1::Qvdb::Stub::*method)(grpc::ClientContext*,
                                                           const Req&, Resp*),
                    const Req& request, Resp* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    return (stub_.get()->*method)(&context, request, response);
  }

  grpc::Status Create(const std::string& name, uint32_t dim, v1::Metric m,
                      const std::string& spec) {
    v1::CreateCollectionRequest req;
    req.set_name(name);
    req.set_dimension(dim);
    req.set_metric(m);
    req.set_index_spec(spec);
    v1::CreateCollectionResponse resp;
    return Call(&v1::Qvdb::Stub::CreateCollection, req, &resp);
  }

  grpc::Status Upsert(const v1::UpsertRequest& req) {
    v1::UpsertResponse resp;
    return Call(&v1::Qvdb::Stub::Upsert, req, &resp);
  }

  grpc::Status Search(const std::string& collection, std::vector<float> v,
                      const v1::SearchParams& params) {
    v1::SearchRequest req;
    req.set_collection(collection);
    req.mutable_vector()->Add(v.begin(), v.end());
    *req.mutable_params() = params;
    v1::SearchResponse resp;
    return Call(&v1::Qvdb::Stub::Search, req, &resp);
  }

  TempDir dir_;
  std::unique_ptr<QvdbServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Qvdb::Stub> stub_;
};

// Expects `status` to have `code` and a message containing `text`.
#define EXPECT_STATUS(status, code, text)                                     \
  do {                                                                        \
    const grpc::Status s_ = (status);                                         \
    EXPECT_EQ(s_.error_code(), grpc::StatusCode::code) << s_.error_message(); \
    EXPECT_NE(s_.error_message().find(text), std::string::npos)               \
        << s_.error_message();                                                \
  } while (0)

TEST_F(BadInputTest, CreateCollection) {
  EXPECT_STATUS(Create("", kDim, v1::METRIC_L2, "Flat"), INVALID_ARGUMENT,
                "name is empty");
  EXPECT_STATUS(Create("c", kDim, v1::METRIC_UNSPECIFIED, "Flat"),
                INVALID_ARGUMENT, "METRIC_L2");
  EXPECT_STATUS(Create("c", 0, v1::METRIC_L2, "Flat"), INVALID_ARGUMENT,
                "dimension");
  EXPECT_STATUS(Create("c", 70000, v1::METRIC_L2, "Flat"), INVALID_ARGUMENT,
                "dimension");
  EXPECT_STATUS(Create("c", kDim, v1::METRIC_L2, "IVF,PQ4"), INVALID_ARGUMENT,
                "IVF");
  EXPECT_STATUS(Create("c", kDim, v1::METRIC_L2, "PQ3"), INVALID_ARGUMENT,
                "PQ3");
  EXPECT_STATUS(Create("keep", kDim, v1::METRIC_L2, "Flat"), ALREADY_EXISTS,
                "keep");
  // An empty spec means Flat.
  EXPECT_TRUE(Create("flat", kDim, v1::METRIC_COSINE, "").ok());
}

TEST_F(BadInputTest, UpsertRows) {
  v1::UpsertRequest req;
  req.set_collection("keep");
  EXPECT_STATUS(Upsert(req), INVALID_ARGUMENT, "");  // empty batch

  req.set_collection("");
  *req.add_rows() = Row(1000);
  EXPECT_STATUS(Upsert(req), INVALID_ARGUMENT, "collection is empty");
  req.set_collection("nope");
  EXPECT_STATUS(Upsert(req), NOT_FOUND, "nope");
  req.set_collection("keep");

  auto one = [&](v1::Row row) {
    v1::UpsertRequest r;
    r.set_collection("keep");
    *r.add_rows() = Row(1000);
    *r.add_rows() = std::move(row);
    return Upsert(r);
  };
  v1::Row no_id = Row(1);
  no_id.clear_id();
  EXPECT_STATUS(one(no_id), INVALID_ARGUMENT, "rows[1] has no id");
  v1::Row unset_id = Row(1);
  unset_id.mutable_id()->clear_kind();
  EXPECT_STATUS(one(unset_id), INVALID_ARGUMENT, "rows[1].id is not set");
  EXPECT_STATUS(one(Row(1001, std::vector<float>(kDim + 1, 1.0f))),
                INVALID_ARGUMENT, "");
  std::vector<float> nan = Vec(1);
  nan[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_STATUS(one(Row(1002, nan)), INVALID_ARGUMENT, "");
  std::vector<float> inf = Vec(1);
  inf[0] = std::numeric_limits<float>::infinity();
  EXPECT_STATUS(one(Row(1003, inf)), INVALID_ARGUMENT, "");
  EXPECT_STATUS(one(Row(1000)), INVALID_ARGUMENT, "1000");  // duplicate
  v1::Row empty_str = Row(0);
  empty_str.mutable_id()->set_str("");
  EXPECT_STATUS(one(empty_str), INVALID_ARGUMENT, "");
  v1::Row long_str = Row(0);
  long_str.mutable_id()->set_str(std::string(1025, 'x'));
  EXPECT_STATUS(one(long_str), INVALID_ARGUMENT, "");
  // A payload over the engine's 1 MiB (the message is within 2 MiB).
  v1::Row big_payload = Row(1004);
  big_payload.set_payload(std::string((1 << 20) + 1, 'p'));
  EXPECT_STATUS(one(big_payload), INVALID_ARGUMENT, "payload");
}

TEST_F(BadInputTest, EmptyAndHugeBatches) {
  // 10001 rows: over the batch limit (the message itself is small enough).
  v1::UpsertRequest huge;
  huge.set_collection("keep");
  for (int i = 0; i < 10001; ++i) *huge.add_rows() = Row(5000 + i);
  EXPECT_STATUS(Upsert(huge), INVALID_ARGUMENT, "10001 rows is over the limit");

  v1::DeleteRequest del;
  del.set_collection("keep");
  v1::DeleteResponse dr;
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::Delete, del, &dr), INVALID_ARGUMENT, "");
  for (int i = 0; i < 10001; ++i) del.add_ids()->set_u64(i);
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::Delete, del, &dr), INVALID_ARGUMENT,
                "over the limit");
  v1::DeleteRequest dup;
  dup.set_collection("keep");
  dup.add_ids()->set_u64(3);
  dup.add_ids()->set_u64(3);
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::Delete, dup, &dr), INVALID_ARGUMENT, "3");

  v1::GetRequest get;
  get.set_collection("keep");
  v1::GetResponse gr;
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::Get, get, &gr), INVALID_ARGUMENT, "");
  get.add_ids();  // an id with nothing set
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::Get, get, &gr), INVALID_ARGUMENT,
                "ids[0] is not set");

  // Deleting ids that do not exist is not an error.
  v1::DeleteRequest missing;
  missing.set_collection("keep");
  missing.add_ids()->set_u64(999999);
  ASSERT_TRUE(Call(&v1::Qvdb::Stub::Delete, missing, &dr).ok());
  EXPECT_EQ(dr.not_found(), 1u);
  EXPECT_EQ(dr.deleted(), 0u);
}

TEST_F(BadInputTest, OversizedMessages) {
  // About 3 MiB of floats on a server that accepts 2 MiB.
  v1::UpsertRequest req;
  req.set_collection("keep");
  for (int i = 0; i < 8000; ++i)
    *req.add_rows() = Row(20000 + i, std::vector<float>(96, 1.0f));
  ASSERT_GT(req.ByteSizeLong(), size_t(kMaxMessage));
  EXPECT_STATUS(Upsert(req), RESOURCE_EXHAUSTED, "");

  v1::SearchBatchRequest batch;
  batch.set_collection("keep");
  for (int i = 0; i < 80000; ++i) {
    batch.add_queries()->mutable_values()->Resize(kDim, 0.5f);
  }
  v1::SearchBatchResponse br;
  ASSERT_GT(batch.ByteSizeLong(), size_t(kMaxMessage));
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::SearchBatch, batch, &br),
                RESOURCE_EXHAUSTED, "");
}

TEST_F(BadInputTest, UnknownFieldsAreIgnored) {
  // A newer client may send fields this server does not know: field 99
  // (varint 7) appended to a valid request.
  v1::UpsertRequest base;
  base.set_collection("keep");
  *base.add_rows() = Row(7);
  std::string bytes = base.SerializeAsString();
  bytes += std::string("\x98\x06\x07", 3);  // tag (99 << 3 | 0), value 7
  v1::UpsertRequest with_unknown;
  ASSERT_TRUE(with_unknown.ParseFromString(bytes));
  ASSERT_EQ(with_unknown.SerializeAsString().size(), bytes.size());
  v1::UpsertResponse r;
  ASSERT_TRUE(Call(&v1::Qvdb::Stub::Upsert, with_unknown, &r).ok());
  EXPECT_EQ(r.updated(), 1u);
}

TEST_F(BadInputTest, Search) {
  v1::SearchParams p;
  EXPECT_STATUS(Search("keep", {}, p), INVALID_ARGUMENT,
                "query vector is empty");
  EXPECT_STATUS(Search("keep", std::vector<float>(kDim + 2, 0.1f), p),
                INVALID_ARGUMENT, "");
  std::vector<float> nan = Vec(1);
  nan[1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_STATUS(Search("keep", nan, p), INVALID_ARGUMENT, "");
  EXPECT_STATUS(Search("nope", Vec(1), p), NOT_FOUND, "nope");
  EXPECT_STATUS(Search("", Vec(1), p), INVALID_ARGUMENT, "collection is empty");

  v1::SearchParams neg;
  neg.set_k(-1);
  EXPECT_STATUS(Search("keep", Vec(1), neg), INVALID_ARGUMENT, "negative");
  v1::SearchParams nprobe;
  nprobe.set_nprobe(-3);
  EXPECT_STATUS(Search("keep", Vec(1), nprobe), INVALID_ARGUMENT, "negative");
  v1::SearchParams big_k;
  big_k.set_k(10001);
  EXPECT_STATUS(Search("keep", Vec(1), big_k), INVALID_ARGUMENT, "k 10001");
  v1::SearchParams refine;
  refine.set_refine_factor(101);
  EXPECT_STATUS(Search("keep", Vec(1), refine), INVALID_ARGUMENT, "");
  v1::SearchParams bad_filter;
  bad_filter.mutable_filter()->add_ids();
  EXPECT_STATUS(Search("keep", Vec(1), bad_filter), INVALID_ARGUMENT,
                "params.filter.ids[0] is not set");

  // An empty filter matches nothing; a filter restricts the hits.
  v1::SearchParams empty_filter;
  empty_filter.mutable_filter();
  v1::SearchRequest req;
  req.set_collection("keep");
  const auto v = Vec(5);
  req.mutable_vector()->Add(v.begin(), v.end());
  *req.mutable_params() = empty_filter;
  v1::SearchResponse resp;
  ASSERT_TRUE(Call(&v1::Qvdb::Stub::Search, req, &resp).ok());
  EXPECT_EQ(resp.hits_size(), 0);
  req.mutable_params()->mutable_filter()->add_ids()->set_u64(9);
  req.mutable_params()->mutable_filter()->add_ids()->set_u64(77);
  ASSERT_TRUE(Call(&v1::Qvdb::Stub::Search, req, &resp).ok());
  ASSERT_EQ(resp.hits_size(), 2);
  for (const auto& h : resp.hits()) {
    EXPECT_TRUE(h.id().u64() == 9 || h.id().u64() == 77);
  }
}

// Issue 13: the structured form of filters on Search, Count, Get and
// Delete. Each bad filter is INVALID_ARGUMENT naming the problem and the
// node, and deletes nothing; an empty delete never means every row.
TEST_F(BadInputTest, StructuredFiltersSayWhatIsWrongAndChangeNothing) {
  constexpr int kTyped = 40;
  {
    v1::CreateCollectionRequest req;
    req.set_name("typed");
    req.set_dimension(kDim);
    req.set_metric(v1::METRIC_L2);
    req.set_index_spec("Flat");
    auto* lang = req.add_fields();
    lang->set_name("lang");
    lang->set_type("keyword");
    auto* year = req.add_fields();
    year->set_name("year");
    year->set_type("int64");
    v1::CreateCollectionResponse resp;
    ASSERT_TRUE(Call(&v1::Qvdb::Stub::CreateCollection, req, &resp).ok());
    v1::UpsertRequest up;
    up.set_collection("typed");
    for (int i = 0; i < kTyped; ++i) {
      v1::Row row = Row(i);
      row.set_payload(fmt::format(R"({{"lang": "{}", "year": {}}})",
                                  i % 2 ? "de" : "en", 2000 + i));
      *up.add_rows() = row;
    }
    ASSERT_TRUE(Upsert(up).ok());
  }
  auto count = [&](const v1::Filter* f) -> int64_t {
    v1::CountRequest req;
    req.set_collection("typed");
    if (f != nullptr) *req.mutable_structured_filter() = *f;
    v1::CountResponse resp;
    const grpc::Status st = Call(&v1::Qvdb::Stub::Count, req, &resp);
    return st.ok() ? int64_t(resp.count()) : -1;
  };
  auto delete_where = [&](const v1::Filter& f) {
    v1::DeleteRequest req;
    req.set_collection("typed");
    *req.mutable_structured_filter() = f;
    v1::DeleteResponse resp;
    return Call(&v1::Qvdb::Stub::Delete, req, &resp);
  };
  auto compare = [](std::string field, v1::FilterOp op, v1::FilterValue v) {
    v1::Filter f;
    f.mutable_comparison()->set_field(std::move(field));
    f.mutable_comparison()->set_op(op);
    *f.mutable_comparison()->mutable_value() = std::move(v);
    return f;
  };
  v1::FilterValue en, year_text, year_2010;
  en.set_string_value("en");
  year_text.set_string_value("2020");
  year_2010.set_int64_value(2010);

  // An unknown field, named with its node.
  v1::Filter unknown;
  *unknown.mutable_all_of()->add_filters() =
      compare("year", v1::FILTER_OP_GE, year_2010);
  *unknown.mutable_all_of()->add_filters() =
      compare("langg", v1::FILTER_OP_EQ, en);
  EXPECT_STATUS(delete_where(unknown), INVALID_ARGUMENT,
                "unknown field \"langg\" at "
                "structured_filter.all_of.filters[1].comparison");
  // A value of the wrong type.
  EXPECT_STATUS(delete_where(compare("year", v1::FILTER_OP_EQ, year_text)),
                INVALID_ARGUMENT,
                "field \"year\" is int64, got string \"2020\"");
  // An ordering operator on a keyword.
  EXPECT_STATUS(delete_where(compare("lang", v1::FILTER_OP_LT, en)),
                INVALID_ARGUMENT, "needs a numeric or timestamp field");
  // Nesting deeper than the limit (32).
  v1::Filter deep = compare("lang", v1::FILTER_OP_EQ, en);
  for (int i = 0; i < 33; ++i) {
    v1::Filter outer;
    *outer.mutable_negate() = deep;
    deep = outer;
  }
  EXPECT_STATUS(delete_where(deep), INVALID_ARGUMENT,
                "nesting deeper than 32 levels");
  // An `in` list over the limit (1024).
  v1::Filter long_in;
  long_in.mutable_in_list()->set_field("year");
  for (int i = 0; i < 1025; ++i) {
    long_in.mutable_in_list()->add_values()->set_int64_value(i);
  }
  EXPECT_STATUS(delete_where(long_in), INVALID_ARGUMENT,
                "has more than 1024 values");
  // Unset parts of the message.
  v1::Filter unset;
  unset.mutable_all_of()->add_filters();
  EXPECT_STATUS(delete_where(unset), INVALID_ARGUMENT,
                "structured_filter.all_of.filters[0] is not set");
  v1::Filter no_op = compare("lang", v1::FILTER_OP_UNSPECIFIED, en);
  EXPECT_STATUS(delete_where(no_op), INVALID_ARGUMENT,
                "structured_filter.comparison.op");
  // The same checks on Search and Count.
  v1::SearchParams params;
  *params.mutable_structured_filter() = long_in;
  EXPECT_STATUS(Search("typed", Vec(1), params), INVALID_ARGUMENT,
                "has more than 1024 values");
  EXPECT_EQ(count(&unknown), -1);
  // A delete with neither ids nor a filter deletes nothing; Get takes ids
  // or a filter, not both, and a bounded limit.
  {
    v1::DeleteRequest req;
    req.set_collection("typed");
    v1::DeleteResponse resp;
    EXPECT_STATUS(Call(&v1::Qvdb::Stub::Delete, req, &resp), INVALID_ARGUMENT,
                  "neither was given");
    v1::GetRequest get;
    get.set_collection("typed");
    get.add_ids()->set_u64(1);
    get.set_filter_expr(R"(lang = "en")");
    v1::GetResponse got;
    EXPECT_STATUS(Call(&v1::Qvdb::Stub::Get, get, &got), INVALID_ARGUMENT,
                  "not both");
    get.clear_ids();
    get.set_limit(10001);
    EXPECT_STATUS(Call(&v1::Qvdb::Stub::Get, get, &got), INVALID_ARGUMENT,
                  "limit 10001");
  }
  // Nothing changed.
  EXPECT_EQ(count(nullptr), kTyped);

  // The good filters work: text and structured forms ANDed.
  const v1::Filter recent = compare("year", v1::FILTER_OP_GE, year_2010);
  EXPECT_EQ(count(&recent), 30);
  v1::GetRequest get;
  get.set_collection("typed");
  get.set_filter_expr(R"(lang = "en")");
  *get.mutable_structured_filter() = recent;
  get.set_with_payload(true);
  get.set_limit(3);
  v1::GetResponse got;
  ASSERT_TRUE(Call(&v1::Qvdb::Stub::Get, get, &got).ok());
  ASSERT_EQ(got.results_size(), 3);
  EXPECT_TRUE(got.more());
  for (const auto& r : got.results()) {
    EXPECT_TRUE(r.found());
    EXPECT_EQ(r.id().u64() % 2, 0u);
    EXPECT_GE(r.id().u64(), 10u);
  }
  v1::DeleteRequest del;
  del.set_collection("typed");
  del.set_filter_expr(R"(lang = "en")");
  *del.mutable_structured_filter() = recent;
  v1::DeleteResponse deleted;
  ASSERT_TRUE(Call(&v1::Qvdb::Stub::Delete, del, &deleted).ok());
  EXPECT_EQ(deleted.deleted(), 15u);
  EXPECT_EQ(count(nullptr), kTyped - 15);
}

// Issue 16, defect 1: Search's single vector held 12 floats for a 4-d (here
// 8-d) collection; every query was searched and the first returned.
TEST_F(BadInputTest, SearchRejectsVectorOfWrongLength) {
  v1::SearchParams p;
  p.set_k(10000);
  EXPECT_STATUS(Search("keep", std::vector<float>(3 * kDim, 0.1f), p),
                INVALID_ARGUMENT, "send one query of 8 floats");
  EXPECT_STATUS(Search("keep", std::vector<float>(kDim - 1, 0.1f), p),
                INVALID_ARGUMENT, "has 8 dimensions");
}

// Issue 16, defect 3: Get built the whole answer (here 100 copies of a
// 256 KiB payload) before the send limit applied.
TEST_F(BadInputTest, GetOfRepeatedIdsIsBoundedBeforeTheSendLimit) {
  ASSERT_TRUE(Create("big", kDim, v1::METRIC_L2, "Flat").ok());
  v1::UpsertRequest up;
  up.set_collection("big");
  *up.add_rows() = Row(1);
  up.mutable_rows(0)->set_payload(std::string(256 << 10, 'p'));
  ASSERT_TRUE(Upsert(up).ok());
  v1::GetRequest get;
  get.set_collection("big");
  get.set_with_payload(true);
  for (int i = 0; i < 100; ++i) get.add_ids()->set_u64(1);
  v1::GetResponse resp;
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::Get, get, &resp), RESOURCE_EXHAUSTED,
                "response limit");
  get.set_with_payload(false);
  ASSERT_TRUE(Call(&v1::Qvdb::Stub::Get, get, &resp).ok());
  EXPECT_EQ(resp.results_size(), 100);
}

TEST_F(BadInputTest, SearchBatch) {
  v1::SearchBatchRequest req;
  req.set_collection("keep");
  v1::SearchBatchResponse resp;
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::SearchBatch, req, &resp),
                INVALID_ARGUMENT, "no queries");
  req.add_queries()->mutable_values()->Resize(kDim, 0.1f);
  req.add_queries()->mutable_values()->Resize(kDim - 1, 0.1f);
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::SearchBatch, req, &resp),
                INVALID_ARGUMENT, "queries[1] has 7 values");

  v1::SearchBatchRequest many;
  many.set_collection("keep");
  for (int i = 0; i < 10001; ++i)
    many.add_queries()->mutable_values()->Resize(kDim, 0.1f);
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::SearchBatch, many, &resp),
                INVALID_ARGUMENT, "10001 queries");

  // 101 queries x k 10000 = 1010000 hits: over the per-call limit.
  v1::SearchBatchRequest wide;
  wide.set_collection("keep");
  for (int i = 0; i < 101; ++i)
    wide.add_queries()->mutable_values()->Resize(kDim, 0.1f);
  wide.mutable_params()->set_k(10000);
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::SearchBatch, wide, &resp),
                INVALID_ARGUMENT, "hits is over the limit");
}

TEST_F(BadInputTest, IngestStream) {
  auto run = [&](const std::vector<v1::IngestRequest>& messages,
                 std::vector<v1::IngestAck>* acks) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    auto stream = stub_->Ingest(&context);
    for (const auto& m : messages) {
      if (!stream->Write(m)) break;
    }
    stream->WritesDone();
    v1::IngestAck ack;
    while (stream->Read(&ack)) acks->push_back(ack);
    return stream->Finish();
  };
  std::vector<v1::IngestAck> acks;
  v1::IngestRequest no_name;
  *no_name.add_rows() = Row(300);
  EXPECT_STATUS(run({no_name}, &acks), INVALID_ARGUMENT,
                "first Ingest message must name the collection");

  v1::IngestRequest good;
  good.set_collection("keep");
  *good.add_rows() = Row(300);
  *good.add_rows() = Row(301);
  v1::IngestRequest other = good;
  other.set_collection("flat");
  acks.clear();
  EXPECT_STATUS(run({good, other}, &acks), INVALID_ARGUMENT,
                "one stream per collection");
  ASSERT_EQ(acks.size(), 1u);

  // A bad third message: the first two are stored, the third wrote nothing.
  v1::IngestRequest opener;  // no rows: acknowledged, writes nothing
  opener.set_collection("keep");
  v1::IngestRequest second;
  *second.add_rows() = Row(400);
  v1::IngestRequest bad;
  *bad.add_rows() = Row(401);
  *bad.add_rows() = Row(402, std::vector<float>(3, 1.0f));
  acks.clear();
  EXPECT_STATUS(run({opener, second, bad}, &acks), INVALID_ARGUMENT,
                "Ingest message 3");
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[0].rows(), 0u);
  EXPECT_EQ(acks[1].sequence(), 2u);
  EXPECT_EQ(acks[1].total_rows(), 1u);
  v1::GetRequest get;
  get.set_collection("keep");
  for (uint64_t id : {400, 401, 402}) get.add_ids()->set_u64(id);
  v1::GetResponse gr;
  ASSERT_TRUE(Call(&v1::Qvdb::Stub::Get, get, &gr).ok());
  EXPECT_TRUE(gr.results(0).found());
  EXPECT_FALSE(gr.results(1).found());
  EXPECT_FALSE(gr.results(2).found());
  // Clean up so that "keep" has its rows only.
  v1::DeleteRequest del;
  del.set_collection("keep");
  for (uint64_t id : {300, 301, 400}) del.add_ids()->set_u64(id);
  v1::DeleteResponse dr;
  ASSERT_TRUE(Call(&v1::Qvdb::Stub::Delete, del, &dr).ok());
  EXPECT_EQ(dr.deleted(), 3u);

  v1::IngestRequest unknown;
  unknown.set_collection("nope");
  *unknown.add_rows() = Row(1);
  acks.clear();
  EXPECT_STATUS(run({unknown}, &acks), NOT_FOUND, "nope");
}

TEST_F(BadInputTest, SampleVectors) {
  ASSERT_TRUE(Create("s", kDim, v1::METRIC_L2, "Flat").ok());
  v1::SampleVectorsRequest req;
  v1::SampleVectorsResponse resp;
  req.set_collection("s");
  req.set_max_rows(0);
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::SampleVectors, req, &resp),
                INVALID_ARGUMENT, "max_rows");
  req.set_max_rows(100001);
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::SampleVectors, req, &resp),
                INVALID_ARGUMENT, "1 to 100000");
  req.set_collection("nope");
  req.set_max_rows(10);
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::SampleVectors, req, &resp), NOT_FOUND,
                "nope");
  // An empty collection gives an empty sample, not an error.
  req.set_collection("s");
  ASSERT_TRUE(Call(&v1::Qvdb::Stub::SampleVectors, req, &resp).ok());
  EXPECT_EQ(resp.rows(), 0u);
  EXPECT_EQ(resp.dimension(), uint32_t(kDim));
  EXPECT_EQ(resp.vectors_size(), 0);
}

TEST_F(BadInputTest, AdminCalls) {
  ASSERT_TRUE(Create("small", kDim, v1::METRIC_L2, "IVF16,PQ2").ok());
  v1::TrainRequest train;
  train.set_collection("small");
  v1::TrainResponse tr;
  EXPECT_EQ(Call(&v1::Qvdb::Stub::Train, train, &tr).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  train.set_collection("nope");
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::Train, train, &tr), NOT_FOUND, "nope");
  v1::CompactRequest compact;
  compact.set_collection("nope");
  v1::CompactResponse cr;
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::Compact, compact, &cr), NOT_FOUND, "");

  v1::CreateSnapshotRequest snap;
  snap.set_name("../escape");
  v1::CreateSnapshotResponse sr;
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::CreateSnapshot, snap, &sr),
                INVALID_ARGUMENT, "");
  snap.set_name("s1");
  ASSERT_TRUE(Call(&v1::Qvdb::Stub::CreateSnapshot, snap, &sr).ok());
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::CreateSnapshot, snap, &sr),
                ALREADY_EXISTS, "");
  v1::RestoreSnapshotRequest restore;
  restore.set_name("nope");
  v1::RestoreSnapshotResponse rr;
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::RestoreSnapshot, restore, &rr), NOT_FOUND,
                "nope");
  restore.set_name("");
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::RestoreSnapshot, restore, &rr),
                INVALID_ARGUMENT, "");
  v1::DeleteSnapshotRequest del;
  del.set_name("nope");
  v1::DeleteSnapshotResponse dr;
  EXPECT_EQ(Call(&v1::Qvdb::Stub::DeleteSnapshot, del, &dr).error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::GetStatsRequest stats;
  stats.set_collection("nope");
  v1::GetStatsResponse st;
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::GetStats, stats, &st), NOT_FOUND, "nope");
}

TEST_F(BadInputTest, ExpiredDeadline) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() -
                       std::chrono::seconds(1));
  v1::ListCollectionsRequest req;
  v1::ListCollectionsResponse resp;
  EXPECT_EQ(stub_->ListCollections(&context, req, &resp).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(BadInputTest, NoDeadlineIsFine) {
  grpc::ClientContext context;  // e.g. grpcurl without -max-time
  v1::ListCollectionsRequest req;
  v1::ListCollectionsResponse resp;
  ASSERT_TRUE(stub_->ListCollections(&context, req, &resp).ok());
  EXPECT_EQ(resp.collections_size(), 1);
}

TEST_F(BadInputTest, RequestsAfterDrop) {
  ASSERT_TRUE(Create("gone", kDim, v1::METRIC_L2, "Flat").ok());
  v1::UpsertRequest up;
  up.set_collection("gone");
  *up.add_rows() = Row(1);
  ASSERT_TRUE(Upsert(up).ok());
  v1::DropCollectionRequest drop;
  drop.set_name("gone");
  v1::DropCollectionResponse dr;
  ASSERT_TRUE(Call(&v1::Qvdb::Stub::DropCollection, drop, &dr).ok());

  EXPECT_STATUS(Upsert(up), NOT_FOUND, "gone");
  EXPECT_STATUS(Search("gone", Vec(1), {}), NOT_FOUND, "gone");
  v1::GetRequest get;
  get.set_collection("gone");
  get.add_ids()->set_u64(1);
  v1::GetResponse gr;
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::Get, get, &gr), NOT_FOUND, "gone");
  v1::DescribeCollectionRequest d;
  d.set_name("gone");
  v1::DescribeCollectionResponse dd;
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::DescribeCollection, d, &dd), NOT_FOUND,
                "gone");
  EXPECT_STATUS(Call(&v1::Qvdb::Stub::DropCollection, drop, &dr), NOT_FOUND,
                "gone");
  // The name can be used again, empty.
  ASSERT_TRUE(Create("gone", kDim, v1::METRIC_L2, "Flat").ok());
  gr.Clear();
  ASSERT_TRUE(Call(&v1::Qvdb::Stub::Get, get, &gr).ok());
  EXPECT_FALSE(gr.results(0).found());
}

TEST_F(BadInputTest, ConcurrentCreateAndDropOfOneName) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 30;
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        grpc::Status s;
        if ((i + t) % 2 == 0) {
          s = Create("race", kDim, v1::METRIC_L2, "Flat");
          if (!s.ok() && s.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
            ++unexpected;
          }
        } else {
          v1::DropCollectionRequest drop;
          drop.set_name("race");
          v1::DropCollectionResponse dr;
          s = Call(&v1::Qvdb::Stub::DropCollection, drop, &dr);
          if (!s.ok() && s.error_code() != grpc::StatusCode::NOT_FOUND) {
            ++unexpected;
          }
        }
        if (!s.ok() && s.error_code() != grpc::StatusCode::ALREADY_EXISTS &&
            s.error_code() != grpc::StatusCode::NOT_FOUND) {
          ADD_FAILURE() << s.error_message();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(unexpected.load(), 0);
  // Whatever state it ended in is consistent: describe and list agree.
  v1::ListCollectionsRequest lr;
  v1::ListCollectionsResponse list;
  ASSERT_TRUE(Call(&v1::Qvdb::Stub::ListCollections, lr, &list).ok());
  bool listed = false;
  for (const auto& c : list.collections()) listed |= c.info().name() == "race";
  v1::DescribeCollectionRequest d;
  d.set_name("race");
  v1::DescribeCollectionResponse dd;
  const grpc::Status described =
      Call(&v1::Qvdb::Stub::DescribeCollection, d, &dd);
  EXPECT_EQ(listed, described.ok()) << described.error_message();
  if (listed) {
    EXPECT_EQ(dd.collection().live_rows(), 0u);
  }
}

}  // namespace
}  // namespace qvdb
