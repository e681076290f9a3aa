// Field indexes kept in storage, through the engine (docs/filter.md,
// docs/storage.md "Field postings"): the field index loaded at open from
// the postings equals the one the payloads give; a collection stored before
// postings were kept gets them once; AddField backfills existing rows, is
// refused without changing anything, keeps writes made meanwhile, and
// leaves no trace when cut short.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "server/engine/collection_engine.h"
#include "server/engine/engine_test_util.h"
#include "server/engine/field_values.h"

namespace qvdb {
namespace {

using engine_testing::SeededVector;
using engine_testing::TempDir;
using engine_testing::TestOptions;
using engine_testing::U64;

constexpr int kDim = 8;
constexpr char kFields[] =
    "lang:keyword,year:int64,score:double,pub:bool,tags:keyword_list,"
    "ts:timestamp,notes:keyword:unindexed";

// Filters over every type, operator and absence.
const std::vector<std::string>& Filters() {
  static const std::vector<std::string> f = {
      R"(lang = "en")",
      R"(lang != "en")",
      R"(lang in ("de", "fr"))",
      R"(not exists(lang))",
      "year >= 2018 and year < 2022",
      "year = -5",
      "score < 0",
      "score >= 0.5",
      "pub = true",
      "pub = false or not exists(pub)",
      R"(tags = "faq")",
      R"(tags not in ("faq", "api"))",
      "exists(tags)",
      "ts > 1700000000000000",
      R"(notes = "n3")",
      R"(lang = "en" and (year > 2020 or tags in ("api")))",
  };
  return f;
}

std::string RandomPayload(std::mt19937& rng) {
  static const char* langs[] = {"en", "de", "fr", ""};
  static const char* tags[] = {"faq", "api", "howto"};
  std::vector<std::string> members;
  if (rng() % 5) members.push_back(fmt::format(R"("lang":"{}")", langs[rng() % 4]));
  if (rng() % 4) {
    members.push_back(fmt::format(R"("year":{})",
                                  rng() % 9 == 0 ? -5 : 2010 + int(rng() % 15)));
  }
  if (rng() % 3) {
    members.push_back(fmt::format(R"("score":{})",
                                  (int(rng() % 200) - 100) / 100.0));
  }
  if (rng() % 3) members.push_back(rng() % 2 ? R"("pub":true)" : R"("pub":false)");
  if (rng() % 2) {
    std::string list;
    for (const char* t : tags) {
      if (rng() % 2) list += fmt::format("{}\"{}\"", list.empty() ? "" : ",", t);
    }
    members.push_back(fmt::format(R"("tags":[{}])", list));
  }
  if (rng() % 2) {
    members.push_back(fmt::format(R"("ts":{})",
                                  1690000000000000 + int64_t(rng() % 20) *
                                                         1000000000000));
  }
  if (rng() % 2) members.push_back(fmt::format(R"("notes":"n{}")", rng() % 5));
  members.push_back(R"("other":{"x":1})");
  std::string out = "{";
  for (size_t i = 0; i < members.size(); ++i) {
    out += (i ? "," : "") + members[i];
  }
  return out + "}";
}

// The rows that pass `filter` by their payloads (the oracle), lenient as
// the index is: a member of the wrong type is no value.
// Live rows without a payload have no values.
std::set<uint64_t> Expected(const std::set<uint64_t>& live,
                            const std::map<uint64_t, std::string>& payloads,
                            const FieldSchema& schema,
                            const std::string& filter) {
  auto expr = ParseFilter(filter, schema);
  EXPECT_TRUE(expr.ok()) << filter << ": " << expr.status();
  std::set<uint64_t> out;
  for (uint64_t id : live) {
    auto it = payloads.find(id);
    const std::string payload = it == payloads.end() ? "" : it->second;
    size_t wrong = 0;
    auto values = ExtractFieldValuesLenient(schema, payload, 0, &wrong);
    if (!values.ok()) values = RowValues(schema.fields().size());
    if (FilterMatches(*expr, *values)) out.insert(id);
  }
  return out;
}

// The rows the collection's field index passes: Count is the index's own
// cardinality, GetWhere the rows (each also checked on its payload), so
// both equal to the oracle means the index's set is the oracle's.
void ExpectIndexMatches(const Engine& e, const std::string& name,
                        const std::set<uint64_t>& live,
                        const std::map<uint64_t, std::string>& payloads,
                        const std::string& where) {
  auto info = e.DescribeCollection(name);
  ASSERT_TRUE(info.ok()) << info.status();
  auto schema = FieldSchema::Parse(info->field_schema);
  ASSERT_TRUE(schema.ok());
  for (const std::string& filter : Filters()) {
    bool declared = true;
    if (!ParseFilter(filter, *schema).ok()) declared = false;
    if (!declared) continue;  // a field the collection does not have yet
    const std::set<uint64_t> expected =
        Expected(live, payloads, *schema, filter);
    auto count = e.Count(name, RowFilter{filter, std::nullopt});
    ASSERT_TRUE(count.ok()) << count.status();
    EXPECT_EQ(*count, expected.size()) << where << ": " << filter;
    auto rows = e.GetWhere(name, RowFilter{filter, std::nullopt}, 10000,
                           GetOptions{});
    ASSERT_TRUE(rows.ok()) << rows.status();
    std::set<uint64_t> got;
    for (const GetResult& r : rows->rows) got.insert(U64(r.id));
    if (rows->more) {  // the first 10000 (Get's limit) of them
      EXPECT_EQ(got.size(), 10000u) << where << ": " << filter;
      EXPECT_TRUE(std::includes(expected.begin(), expected.end(), got.begin(),
                                got.end()))
          << where << ": " << filter;
    } else {
      EXPECT_EQ(got, expected) << where << ": " << filter;
    }
  }
}

class FieldPostingsEngineTest : public ::testing::Test {
 protected:
  void Open() {
    engine_.reset();
    auto e = Engine::Open(TestOptions(tmp_.path()));
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = *std::move(e);
  }
  void Close() { engine_.reset(); }
  void Upsert(const std::string& name, uint64_t id, std::string payload) {
    std::vector<UpsertRow> rows(1);
    rows[0].id = id;
    rows[0].vector = SeededVector(id, kDim);
    rows[0].payload = payload;
    ASSERT_OK(engine_->Upsert(name, rows));
    if (payload.empty()) {
      payloads_.erase(id);
    } else {
      payloads_[id] = std::move(payload);
    }
    live_.insert(id);
  }
  // Writes n rows with random payloads, then replaces and deletes some.
  void Fill(const std::string& name, uint64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<UpsertRow> rows;
    for (uint64_t id = 0; id < n; ++id) {
      UpsertRow& r = rows.emplace_back();
      r.id = id;
      r.vector = SeededVector(id, kDim);
      r.payload = rng() % 17 == 0 ? "" : RandomPayload(rng);
      if (!r.payload.empty()) payloads_[id] = r.payload;
      live_.insert(id);
      if (rows.size() == 1000 || id + 1 == n) {
        ASSERT_OK(engine_->Upsert(name, rows));
        rows.clear();
      }
    }
    for (uint64_t id = 0; id < n; id += 7) Upsert(name, id, RandomPayload(rng));
    std::vector<UserId> gone;
    for (uint64_t id = 3; id < n; id += 11) {
      gone.push_back(id);
      payloads_.erase(id);
      live_.erase(id);
    }
    ASSERT_OK(engine_->Delete(name, gone));
  }

  TempDir tmp_;
  std::unique_ptr<Engine> engine_;
  std::map<uint64_t, std::string> payloads_;
  std::set<uint64_t> live_;
};

TEST_F(FieldPostingsEngineTest, ReopenLoadsTheIndexThePayloadsGive) {
  Open();
  CollectionConfig config{"docs", kDim, Metric::kL2, "Flat", kFields};
  ASSERT_OK(engine_->CreateCollection(config));
  Fill("docs", 3000, 1);
  ExpectIndexMatches(*engine_, "docs", live_, payloads_, "written");
  Close();
  Open();
  ExpectIndexMatches(*engine_, "docs", live_, payloads_, "reopened from postings");
  // Writes after the reopen replace postings loaded from storage.
  std::mt19937 rng(2);
  for (uint64_t id = 1; id < 3000; id += 13) Upsert("docs", id, RandomPayload(rng));
  Close();
  Open();
  ExpectIndexMatches(*engine_, "docs", live_, payloads_, "reopened again");
}

// A collection stored before postings were kept: its record says no field
// has them (postings_fields 0, as an older record reads) and there are
// none. The first open builds them from the payloads and records it.
TEST_F(FieldPostingsEngineTest, OlderCollectionGetsItsPostingsOnce) {
  Open();
  CollectionConfig config{"docs", kDim, Metric::kL2, "Flat", kFields};
  ASSERT_OK(engine_->CreateCollection(config));
  Fill("docs", 2000, 3);
  Close();
  {
    ASSERT_OK_AND_ASSIGN(auto st, Storage::Open(tmp_.path(), StorageOptions{}));
    ASSERT_OK_AND_ASSIGN(CollectionRecord rec, st->GetCollection("docs"));
    ASSERT_OK(st->ClearFieldPostings("docs", 0));
    ASSERT_OK(st->SetFieldSchema("docs", rec.field_schema, 0));
  }
  Open();
  ExpectIndexMatches(*engine_, "docs", live_, payloads_, "built from payloads");
  Close();
  {
    ASSERT_OK_AND_ASSIGN(auto st, Storage::Open(tmp_.path(), StorageOptions{}));
    ASSERT_OK_AND_ASSIGN(CollectionRecord rec, st->GetCollection("docs"));
    EXPECT_EQ(rec.postings_fields, 7u);
    size_t postings = 0;
    ASSERT_OK(st->ScanFieldPostings("docs", 0, [&](std::string_view, uint64_t) {
      ++postings;
      return absl::OkStatus();
    }));
    EXPECT_GT(postings, 0u);
  }
  Open();
  ExpectIndexMatches(*engine_, "docs", live_, payloads_, "reopened");
}

TEST_F(FieldPostingsEngineTest, AddFieldBackfillsFiltersAndSurvivesReopen) {
  Open();
  ASSERT_OK(engine_->CreateCollection({"docs", kDim, Metric::kL2, "Flat"}));
  Fill("docs", 3000, 4);
  // One row whose member has the wrong type for the new field.
  Upsert("docs", 5000, R"({"lang": 7, "year": 2020})");
  ASSERT_OK_AND_ASSIGN(AddFieldResult added,
                       engine_->AddField("docs", {"lang", FieldType::kKeyword}));
  EXPECT_EQ(added.info.field_schema, "lang:keyword");
  EXPECT_EQ(added.rows_scanned, payloads_.size());
  EXPECT_EQ(added.rows_wrong_type, 1u);
  const std::set<uint64_t> with_lang = Expected(
      live_, payloads_, *FieldSchema::Parse("lang:keyword"), "exists(lang)");
  EXPECT_EQ(added.rows_with_value, with_lang.size());
  ExpectIndexMatches(*engine_, "docs", live_, payloads_, "after AddField(lang)");

  // A taken name changes nothing.
  auto dup = engine_->AddField("docs", {"lang", FieldType::kInt64});
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists) << dup.status();
  EXPECT_EQ(engine_->AddField("docs", {"and", FieldType::kInt64}).status().code(),
            absl::StatusCode::kInvalidArgument);

  for (FieldSpec spec : {FieldSpec{"year", FieldType::kInt64},
                         FieldSpec{"tags", FieldType::kKeywordList, false},
                         FieldSpec{"score", FieldType::kDouble}}) {
    ASSERT_OK(engine_->AddField("docs", spec));
  }
  ExpectIndexMatches(*engine_, "docs", live_, payloads_, "after four AddFields");
  // The field is now checked on writes.
  std::vector<UpsertRow> bad(1);
  bad[0].id = uint64_t{1};
  bad[0].vector = SeededVector(1, kDim);
  bad[0].payload = R"({"year": "x"})";
  EXPECT_EQ(engine_->Upsert("docs", bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  Close();
  Open();
  ASSERT_OK_AND_ASSIGN(CollectionInfo info, engine_->DescribeCollection("docs"));
  EXPECT_EQ(info.field_schema,
            "lang:keyword,year:int64,tags:keyword_list:unindexed,score:double");
  ExpectIndexMatches(*engine_, "docs", live_, payloads_, "reopened after AddField");
}

TEST_F(FieldPostingsEngineTest, AddFieldRefusesOpaquePayloadsAndChangesNothing) {
  Open();
  ASSERT_OK(engine_->CreateCollection({"raw", kDim, Metric::kL2, "Flat"}));
  Upsert("raw", 1, R"({"lang": "en"})");
  Upsert("raw", 2, "not json");
  auto st = engine_->AddField("raw", {"lang", FieldType::kKeyword});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kFailedPrecondition)
      << st.status();
  EXPECT_NE(std::string(st.status().message()).find("row 2"), std::string::npos)
      << st.status();
  ASSERT_OK_AND_ASSIGN(CollectionInfo info, engine_->DescribeCollection("raw"));
  EXPECT_EQ(info.field_schema, "");
  // Opaque payloads are still taken.
  Upsert("raw", 3, "\x01\x02");
  EXPECT_EQ(engine_->AddField("nope", {"lang", FieldType::kKeyword})
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

// What an AddField cut short by a crash leaves (postings of a field the
// catalog does not have) is ignored at load and cleared by the next
// AddField, whatever its name and type.
TEST_F(FieldPostingsEngineTest, AnInterruptedBackfillLeavesNoTrace) {
  Open();
  ASSERT_OK(engine_->CreateCollection(
      {"docs", kDim, Metric::kL2, "Flat", "lang:keyword"}));
  Fill("docs", 1000, 5);
  Close();
  {
    // Field 1 half backfilled as a keyword "year" (bogus values), for every
    // other row, as a crash would leave it.
    ASSERT_OK_AND_ASSIGN(auto st, Storage::Open(tmp_.path(), StorageOptions{}));
    std::vector<RowPostings> rows;
    for (uint64_t iid = 0; iid < 1000; iid += 2) {
      rows.push_back(RowPostings{iid, {FieldPosting{1, "\x00\x00\x00\x01z"}}});
    }
    ASSERT_OK(st->PutFieldPostings("docs", 1, rows));
  }
  Open();
  ASSERT_OK_AND_ASSIGN(CollectionInfo info, engine_->DescribeCollection("docs"));
  EXPECT_EQ(info.field_schema, "lang:keyword");
  ExpectIndexMatches(*engine_, "docs", live_, payloads_, "reopened");
  // Rows written now drop the leftovers of their own postings list.
  std::mt19937 rng(6);
  for (uint64_t id = 0; id < 1000; id += 4) Upsert("docs", id, RandomPayload(rng));
  ASSERT_OK(engine_->AddField("docs", {"year", FieldType::kInt64}));
  ExpectIndexMatches(*engine_, "docs", live_, payloads_, "after AddField(year)");
  Close();
  Open();
  ExpectIndexMatches(*engine_, "docs", live_, payloads_, "reopened after AddField");
}

// Upserts racing an AddField: each either waits for it and is indexed
// under the new field, or lands before its scan. None is lost.
TEST_F(FieldPostingsEngineTest, AddFieldKeepsConcurrentUpserts) {
  Open();
  ASSERT_OK(engine_->CreateCollection({"docs", kDim, Metric::kL2, "Flat"}));
  Fill("docs", 20000, 7);
  std::atomic<bool> stop{false};
  std::map<uint64_t, std::string> written;  // by the writer thread
  std::thread writer([&] {
    std::mt19937 rng(8);
    for (uint64_t i = 0; !stop.load() || i < 50; ++i) {
      // New rows and replacements of old ones, one row per call.
      const uint64_t id = i % 2 ? 30000 + i : (i * 37) % 20000;
      std::vector<UpsertRow> rows(1);
      rows[0].id = id;
      rows[0].vector = SeededVector(id, kDim);
      rows[0].payload = RandomPayload(rng);
      auto st = engine_->Upsert("docs", rows);
      // A write racing the field's arrival may carry a now wrong value;
      // none of RandomPayload's does.
      ASSERT_TRUE(st.ok()) << st.status();
      written[id] = rows[0].payload;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_OK(engine_->AddField("docs", {"lang", FieldType::kKeyword}));
  ASSERT_OK(engine_->AddField("docs", {"tags", FieldType::kKeywordList}));
  stop = true;
  writer.join();
  for (auto& [id, payload] : written) {
    payloads_[id] = payload;
    live_.insert(id);
  }
  ExpectIndexMatches(*engine_, "docs", live_, payloads_, "after the race");
  Close();
  Open();
  ExpectIndexMatches(*engine_, "docs", live_, payloads_, "reopened after the race");
}

}  // namespace
}  // namespace qvdb
