// The CLI's parsing and formatting, without a server (the end-to-end tests
// in server/ run every command against a live one).
#include "client/cli/cli.h"

#include <sstream>
#include <string>
#include <vector>

#include "client/cli/commands.h"
#include "client/cli/exit_codes.h"
#include "client/cli/output.h"
#include "client/cli/progress_bar.h"
#include "gtest/gtest.h"

namespace qvdb::client {
namespace {

struct Parsed {
  Command* command = nullptr;
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Parses "qvdb <args>" with a fresh Cli (kept alive by the caller).
Parsed Parse(Cli& cli, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"qvdb"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::ostringstream out, err;
  Parsed p;
  p.command = cli.Parse(argv, out, err, &p.exit_code);
  p.out = out.str();
  p.err = err.str();
  return p;
}

template <typename T>
const T* As(const Parsed& p) {
  return dynamic_cast<const T*>(p.command);
}

TEST(CliParseTest, CollectionCreate) {
  Cli cli;
  auto p = Parse(cli, {"collection", "create", "docs", "--dim", "384",
                       "--metric", "cosine", "--spec", "IVF64,PQ32x4fs"});
  const auto* c = As<CollectionCreateCommand>(p);
  ASSERT_NE(c, nullptr) << p.err;
  EXPECT_EQ(c->name(), "collection create");
  EXPECT_EQ(c->args().name, "docs");
  EXPECT_EQ(c->args().dim, 384u);
  EXPECT_EQ(c->args().metric, "cosine");
  EXPECT_EQ(c->args().spec, "IVF64,PQ32x4fs");
  EXPECT_EQ(cli.globals().server, std::string(kDefaultServer));
  EXPECT_FALSE(cli.globals().json);
}

TEST(CliParseTest, CreateNeedsDimInRange) {
  Cli a;
  EXPECT_EQ(Parse(a, {"collection", "create", "docs"}).exit_code, kExitUsage);
  Cli b;
  auto p = Parse(b, {"collection", "create", "docs", "--dim", "0"});
  EXPECT_EQ(p.command, nullptr);
  EXPECT_EQ(p.exit_code, kExitUsage);
  EXPECT_FALSE(p.err.empty());
}

TEST(CliParseTest, GlobalOptionsBeforeOrAfterTheCommand) {
  Cli a;
  auto p =
      Parse(a, {"--server", "10.0.0.1:9000", "--json", "collection", "list"});
  ASSERT_NE(As<CollectionListCommand>(p), nullptr) << p.err;
  EXPECT_EQ(a.globals().server, "10.0.0.1:9000");
  EXPECT_TRUE(a.globals().json);

  Cli b;
  p = Parse(b, {"stats", "--json", "--timeout", "2.5", "--attempts", "1"});
  ASSERT_NE(p.command, nullptr) << p.err;
  EXPECT_TRUE(b.globals().json);
  EXPECT_DOUBLE_EQ(b.globals().timeout_seconds, 2.5);
  EXPECT_EQ(b.globals().attempts, 1);
}

TEST(CliParseTest, ApiKeyAndTlsOptions) {
  Cli a;
  auto p = Parse(a, {"--api-key", "k-0123456789abcdef", "--tls-ca", "ca.pem",
                     "collection", "list"});
  ASSERT_NE(p.command, nullptr) << p.err;
  EXPECT_EQ(a.globals().api_key, "k-0123456789abcdef");
  EXPECT_EQ(a.globals().tls_ca, "ca.pem");
  EXPECT_FALSE(a.globals().tls);

  ::setenv("QVDB_API_KEY", "from-the-environment", 1);
  Cli b;
  p = Parse(b, {"stats", "--tls"});
  ::unsetenv("QVDB_API_KEY");
  ASSERT_NE(p.command, nullptr) << p.err;
  EXPECT_EQ(b.globals().api_key, "from-the-environment");
  EXPECT_TRUE(b.globals().tls);

  EXPECT_EQ(ExitCodeFor(absl::UnauthenticatedError("no key")),
            kExitUnauthorized);
  EXPECT_EQ(ExitCodeFor(absl::PermissionDeniedError("read-only")),
            kExitUnauthorized);
}

TEST(CliParseTest, Ingest) {
  Cli cli;
  auto p = Parse(cli, {"ingest", "sift", "base.fvecs", "--batch", "500",
                       "--resume", "--id-start", "100", "--limit", "9",
                       "--offset", "3", "--progress", "never"});
  const auto* c = As<IngestCommand>(p);
  ASSERT_NE(c, nullptr) << p.err;
  EXPECT_EQ(c->args().collection, "sift");
  EXPECT_EQ(c->args().file, "base.fvecs");
  EXPECT_EQ(c->args().batch, 500u);
  EXPECT_TRUE(c->args().resume);
  EXPECT_EQ(c->args().id_start, 100u);
  EXPECT_EQ(c->args().limit, 9u);
  EXPECT_EQ(c->args().offset, 3u);
  EXPECT_EQ(c->args().progress, "never");
  EXPECT_EQ(c->args().format, "auto");
  EXPECT_EQ(c->args().dataset, "train");

  Cli bad_batch;
  EXPECT_EQ(
      Parse(bad_batch, {"ingest", "c", "f.npy", "--batch", "20000"}).exit_code,
      kExitUsage);
  Cli bad_format;
  EXPECT_EQ(
      Parse(bad_format, {"ingest", "c", "f", "--format", "csv"}).exit_code,
      kExitUsage);
  Cli jsonl;
  p = Parse(jsonl, {"ingest", "c", "f.jsonl", "--payload-field", "*",
                    "--vector-field", "emb"});
  ASSERT_NE(As<IngestCommand>(p), nullptr) << p.err;
  EXPECT_EQ(As<IngestCommand>(p)->args().payload_field, "*");
  EXPECT_EQ(As<IngestCommand>(p)->args().vector_field, "emb");
}

TEST(CliParseTest, Search) {
  Cli cli;
  auto p = Parse(
      cli, {"search", "sift", "--vector", "1,2,3", "-k", "5", "--nprobe", "16",
            "--refine-factor", "2", "--filter-ids", "1,2,doc-3", "--with-vector"});
  const auto* c = As<SearchCommand>(p);
  ASSERT_NE(c, nullptr) << p.err;
  EXPECT_EQ(c->args().vector, "1,2,3");
  EXPECT_EQ(c->args().k, 5);
  EXPECT_EQ(c->args().nprobe, 16);
  EXPECT_EQ(c->args().refine_factor, 2);
  EXPECT_EQ(c->args().filter_ids,
            (std::vector<std::string>{"1", "2", "doc-3"}));
  EXPECT_TRUE(c->args().with_vector);
  EXPECT_FALSE(c->args().no_payload);

  Cli filtered;
  p = Parse(filtered, {"search", "docs", "--vector", "1,2", "--filter",
                       "lang = \"en\" and year >= 2020"});
  ASSERT_NE(As<SearchCommand>(p), nullptr) << p.err;
  EXPECT_EQ(As<SearchCommand>(p)->args().filter,
            "lang = \"en\" and year >= 2020");

  Cli file;
  p = Parse(file,
            {"search", "sift", "-f", "q.fvecs", "--row", "7", "--count", "3"});
  ASSERT_NE(As<SearchCommand>(p), nullptr) << p.err;
  EXPECT_EQ(As<SearchCommand>(p)->args().vector_file, "q.fvecs");
  EXPECT_EQ(As<SearchCommand>(p)->args().row, 7u);
  EXPECT_EQ(As<SearchCommand>(p)->args().count, 3);

  // --vector and --vector-file exclude each other; k is bounded.
  Cli both;
  EXPECT_EQ(Parse(both, {"search", "s", "-v", "1", "-f", "q.fvecs"}).exit_code,
            kExitUsage);
  Cli big_k;
  EXPECT_EQ(Parse(big_k, {"search", "s", "-v", "1", "-k", "10001"}).exit_code,
            kExitUsage);
}

TEST(CliParseTest, SearchWithoutQueryIsAUsageErrorAtRun) {
  Cli cli;
  std::ostringstream out, err;
  // Parsing succeeds; Run refuses before connecting to anything.
  EXPECT_EQ(cli.Run({"qvdb", "search", "s"}, out, err), kExitUsage);
  EXPECT_NE(err.str().find("--vector"), std::string::npos);
}

TEST(CliParseTest, GetDeleteAndIds) {
  Cli cli;
  auto p =
      Parse(cli, {"get", "c", "1", "doc-2", "--vector", "--id-type", "auto"});
  const auto* g = As<GetCommand>(p);
  ASSERT_NE(g, nullptr) << p.err;
  EXPECT_EQ(g->args().ids, (std::vector<std::string>{"1", "doc-2"}));
  EXPECT_TRUE(g->args().with_vector);

  Cli del;
  p = Parse(del, {"delete", "c", "5", "6"});
  ASSERT_NE(As<DeleteCommand>(p), nullptr) << p.err;
  EXPECT_EQ(As<DeleteCommand>(p)->args().ids.size(), 2u);

  // Neither ids nor --filter, or both: refused at run, before connecting.
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"qvdb", "delete", "c"},
           {"qvdb", "get", "c"},
           {"qvdb", "delete", "c", "5", "--filter", "lang = \"en\""}}) {
    Cli cli;
    std::ostringstream out, err;
    EXPECT_EQ(cli.Run(args, out, err), kExitUsage) << args[1];
    EXPECT_NE(err.str().find("--filter"), std::string::npos) << err.str();
  }
}

TEST(CliParseTest, GetDeleteAndCountByFilter) {
  Cli get;
  auto p =
      Parse(get, {"get", "docs", "--filter", "lang = \"en\"", "--limit", "5"});
  ASSERT_NE(As<GetCommand>(p), nullptr) << p.err;
  EXPECT_EQ(As<GetCommand>(p)->args().filter, "lang = \"en\"");
  EXPECT_EQ(As<GetCommand>(p)->args().limit, 5u);
  EXPECT_TRUE(As<GetCommand>(p)->args().ids.empty());
  Cli del;
  p = Parse(del, {"delete", "docs", "--filter", "year < 2000"});
  ASSERT_NE(As<DeleteCommand>(p), nullptr) << p.err;
  EXPECT_EQ(As<DeleteCommand>(p)->args().filter, "year < 2000");
  Cli count;
  p = Parse(count, {"count", "docs", "--filter", "exists(lang)"});
  ASSERT_NE(As<CountCommand>(p), nullptr) << p.err;
  EXPECT_EQ(As<CountCommand>(p)->args().collection, "docs");
  EXPECT_EQ(As<CountCommand>(p)->args().filter, "exists(lang)");
}

TEST(CliParseTest, DestructiveCommandsNeedYes) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"qvdb", "collection", "drop", "docs"},
           {"qvdb", "snapshot", "restore", "s1"}}) {
    Cli cli;
    std::ostringstream out, err;
    EXPECT_EQ(cli.Run(args, out, err), kExitUsage);
    EXPECT_NE(err.str().find("--yes"), std::string::npos) << err.str();
  }
  Cli cli;
  auto p = Parse(cli, {"snapshot", "restore", "s1", "--yes"});
  ASSERT_NE(As<SnapshotRestoreCommand>(p), nullptr) << p.err;
  EXPECT_TRUE(As<SnapshotRestoreCommand>(p)->args().yes);
}

TEST(CliParseTest, CollectionAddField) {
  Cli cli;
  auto p = Parse(cli, {"collection", "add-field", "docs", "--field",
                       "tags:keyword_list:unindexed"});
  const auto* c = As<CollectionAddFieldCommand>(p);
  ASSERT_NE(c, nullptr) << p.err;
  EXPECT_EQ(c->args().name, "docs");
  EXPECT_EQ(c->args().field, "tags:keyword_list:unindexed");
  Cli missing;
  EXPECT_EQ(Parse(missing, {"collection", "add-field", "docs"}).exit_code,
            kExitUsage);
}

TEST(CliParseTest, EveryCommandHasHelp) {
  const auto commands = MakeAllCommands();
  EXPECT_EQ(commands.size(), 18u);  // 17 admin commands and advise
  for (const auto& command : commands) {
    Cli cli;
    std::vector<std::string> args = command->path();
    args.push_back("--help");
    auto p = Parse(cli, args);
    EXPECT_EQ(p.command, nullptr);
    EXPECT_EQ(p.exit_code, kExitOk) << command->name();
    EXPECT_NE(p.out.find(command->help()), std::string::npos)
        << command->name() << ":\n"
        << p.out;
  }
  Cli top;
  auto p = Parse(top, {"--help"});
  EXPECT_EQ(p.exit_code, kExitOk);
  for (const char* word :
       {"collection", "ingest", "search", "get", "delete", "count", "train",
        "compact", "snapshot", "stats", "Exit codes"}) {
    EXPECT_NE(p.out.find(word), std::string::npos) << word;
  }
}

TEST(CliParseTest, UnknownOrMissingCommandsAreUsageErrors) {
  Cli a;
  EXPECT_EQ(Parse(a, {}).exit_code, kExitUsage);
  Cli b;
  EXPECT_EQ(Parse(b, {"frobnicate"}).exit_code, kExitUsage);
  Cli c;
  EXPECT_EQ(Parse(c, {"collection"}).exit_code, kExitUsage);
  Cli d;
  EXPECT_EQ(Parse(d, {"collection", "list", "--bogus"}).exit_code, kExitUsage);
}

TEST(CliRunTest, UnreachableServerExitsUnavailable) {
  // Port 1 on loopback: nothing listens; one attempt, short timeout.
  Cli cli;
  std::ostringstream out, err;
  EXPECT_EQ(cli.Run({"qvdb", "--server", "127.0.0.1:1", "--attempts", "1",
                     "--timeout", "5", "collection", "list"},
                    out, err),
            kExitUnavailable);
  EXPECT_NE(err.str().find("UNAVAILABLE"), std::string::npos) << err.str();
}

TEST(ExitCodeTest, MapsStatusCodes) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), kExitOk);
  EXPECT_EQ(ExitCodeFor(absl::NotFoundError("")), kExitNotFound);
  EXPECT_EQ(ExitCodeFor(absl::AlreadyExistsError("")), kExitAlreadyExists);
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("")), kExitInvalid);
  EXPECT_EQ(ExitCodeFor(absl::ResourceExhaustedError("")), kExitInvalid);
  EXPECT_EQ(ExitCodeFor(absl::UnavailableError("")), kExitUnavailable);
  EXPECT_EQ(ExitCodeFor(absl::DeadlineExceededError("")), kExitUnavailable);
  EXPECT_EQ(ExitCodeFor(absl::FailedPreconditionError("")),
            kExitFailedPrecondition);
  EXPECT_EQ(ExitCodeFor(absl::InternalError("")), kExitError);
  EXPECT_EQ(ExitCodeFor(absl::DataLossError("")), kExitError);
}

// --- output helpers ---

TEST(OutputTest, ParseVectorText) {
  EXPECT_EQ(*ParseVectorText("1,2.5,-3e-1"),
            (std::vector<float>{1, 2.5f, -0.3f}));
  EXPECT_EQ(*ParseVectorText("[1, 2, 3]"), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(*ParseVectorText(" 4 5\t6 "), (std::vector<float>{4, 5, 6}));
  EXPECT_FALSE(ParseVectorText("").ok());
  EXPECT_FALSE(ParseVectorText("[]").ok());
  EXPECT_FALSE(ParseVectorText("1,x,3").ok());
  EXPECT_FALSE(ParseVectorText("1,nan").ok());
  EXPECT_FALSE(ParseVectorText("inf").ok());
  EXPECT_FALSE(ParseVectorText("1.2.3").ok());
}

TEST(OutputTest, ParseIds) {
  auto u = ParseIdArg("42", IdType::kAuto);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->kind_case(), v1::Id::kU64);
  EXPECT_EQ(u->u64(), 42u);
  auto s = ParseIdArg("doc-1", IdType::kAuto);
  EXPECT_EQ(s->kind_case(), v1::Id::kStr);
  EXPECT_EQ(s->str(), "doc-1");
  // Too large for u64: a string in auto mode, an error when u64 is forced.
  EXPECT_EQ(ParseIdArg("99999999999999999999", IdType::kAuto)->kind_case(),
            v1::Id::kStr);
  EXPECT_FALSE(ParseIdArg("99999999999999999999", IdType::kU64).ok());
  EXPECT_FALSE(ParseIdArg("x", IdType::kU64).ok());
  EXPECT_EQ(ParseIdArg("42", IdType::kStr)->str(), "42");
  EXPECT_FALSE(ParseIdArg("", IdType::kAuto).ok());
  EXPECT_EQ(ParseIdArg("18446744073709551615", IdType::kU64)->u64(),
            18446744073709551615ull);
}

TEST(OutputTest, MetricsAndStates) {
  EXPECT_EQ(*ParseMetricArg("L2"), v1::METRIC_L2);
  EXPECT_EQ(*ParseMetricArg("ip"), v1::METRIC_INNER_PRODUCT);
  EXPECT_EQ(*ParseMetricArg("inner_product"), v1::METRIC_INNER_PRODUCT);
  EXPECT_EQ(*ParseMetricArg("cosine"), v1::METRIC_COSINE);
  EXPECT_FALSE(ParseMetricArg("hamming").ok());
  EXPECT_EQ(MetricArgName(v1::METRIC_COSINE), "cosine");
  EXPECT_EQ(StateName(v1::COLLECTION_STATE_TRAINED), "trained");
}

TEST(OutputTest, TableAlignsColumns) {
  Table t({"ID", "SCORE"});
  t.AddRow({"1", "0.5"});
  t.AddRow({"long-id", "12"});
  std::ostringstream out;
  t.Print(out);
  EXPECT_EQ(out.str(),
            "ID       SCORE\n"
            "1        0.5\n"
            "long-id  12\n");
}

TEST(OutputTest, EllipsizeKeepsUtf8Whole) {
  EXPECT_EQ(Ellipsize("short", 10), "short");
  EXPECT_EQ(Ellipsize("line\nbreak", 20), "line break");
  EXPECT_EQ(Ellipsize("abcdefghij", 6), "abc...");
  // "é" is two bytes: never cut in half.
  const std::string s = "ééééééé";
  const std::string cut = Ellipsize(s, 5);
  EXPECT_EQ(cut, "éé...");
}

TEST(OutputTest, PayloadAndIdJson) {
  EXPECT_EQ(PayloadToJson("{\"a\":1}")["a"], 1);
  EXPECT_EQ(PayloadToJson("plain text"), "plain text");
  EXPECT_TRUE(PayloadToJson("").is_null());
  EXPECT_EQ(IdToJson(MakeId(uint64_t{5})), 5);
  EXPECT_EQ(IdToJson(MakeId(std::string("x"))), "x");
  EXPECT_EQ(IdCell(MakeId(std::string("x"))), "x");
  EXPECT_EQ(IdToString(MakeId(std::string("x"))), "\"x\"");
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(VectorCell(std::vector<float>{1, 2}), "[1, 2]");
  EXPECT_EQ(VectorCell(std::vector<float>{1, 2, 3, 4, 5, 6}, 2),
            "[1, 2, ... 6 values]");
}

TEST(ProgressTest, FormatsRateAndEta) {
  EXPECT_EQ(FormatDuration(65), "1:05");
  EXPECT_EQ(FormatDuration(3723), "1:02:03");
  EXPECT_EQ(FormatDuration(-1), "?");
  const std::string half = FormatProgress(500, 1000, 10.0);
  EXPECT_NE(half.find("50.0%"), std::string::npos) << half;
  EXPECT_NE(half.find("500/1000 rows"), std::string::npos) << half;
  EXPECT_NE(half.find("50 rows/s"), std::string::npos) << half;
  EXPECT_NE(half.find("ETA 0:10"), std::string::npos) << half;
  EXPECT_NE(half.find("[############............]"), std::string::npos) << half;
  const std::string open = FormatProgress(300, std::nullopt, 3.0);
  EXPECT_EQ(open, "300 rows  100 rows/s  0:03");
  std::ostringstream out;
  ProgressBar off(out, false, 10);
  off.Update(5);
  off.Finish(10);
  EXPECT_EQ(out.str(), "");
  ProgressBar on(out, true, 10);
  on.Update(5);
  on.Finish(10);
  EXPECT_NE(out.str().find("100.0%"), std::string::npos);
  EXPECT_EQ(out.str().back(), '\n');
}

TEST(BackoffTest, DoublesUpToTheCap) {
  ClientOptions o;
  o.initial_backoff = std::chrono::milliseconds(100);
  o.max_backoff = std::chrono::milliseconds(1000);
  EXPECT_EQ(BackoffFor(o, 2).count(), 100);
  EXPECT_EQ(BackoffFor(o, 3).count(), 200);
  EXPECT_EQ(BackoffFor(o, 4).count(), 400);
  EXPECT_EQ(BackoffFor(o, 6).count(), 1000);
  EXPECT_EQ(BackoffFor(o, 30).count(), 1000);
}

}  // namespace
}  // namespace qvdb::client
