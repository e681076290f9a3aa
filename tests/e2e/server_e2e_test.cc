// End-to-end: the real server on a loopback port, the real client. Create,
// stream siftsmall in through Ingest, search with recall against the ground
// truth, restart the server, and search again with identical results; plus
// resume, health, reflection, and clients ingesting and searching at once.
#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "client/ingester.h"
#include "tests/e2e/service_test_util.h"
#include "tests/test_data.h"

namespace qvdb {
namespace {

using client::Client;
using client::Ingester;
using client::IngestOptions;
using client::IngestProgress;
using service_testing::ClientFor;
using service_testing::RawCall;
using service_testing::StartServer;
using service_testing::TempDir;
using service_testing::TestConfig;

v1::Row MakeRow(uint64_t id, const float* v, int dim, std::string payload) {
  v1::Row row;
  row.mutable_id()->set_u64(id);
  row.mutable_vector()->Add(v, v + dim);
  row.set_payload(std::move(payload));
  return row;
}

// Streams every base vector with id = row number, payload "row <i>".
IngestProgress IngestAll(Client& client, const std::string& collection,
                         const Matrix<float>& base, IngestOptions options) {
  Ingester ingester(&client, collection, options);
  for (size_t i = 0; i < base.rows; ++i) {
    absl::Status s = ingester.Add(
        MakeRow(i, base.row(i), base.cols, fmt::format("row {}", i)));
    EXPECT_TRUE(s.ok()) << s;
    if (!s.ok()) break;
  }
  auto done = ingester.Finish();
  EXPECT_TRUE(done.ok()) << done.status();
  return done.ok() ? *done : IngestProgress{};
}

struct Results {
  std::vector<std::vector<uint64_t>> ids;
  std::vector<std::vector<float>> scores;
};

Results SearchAll(Client& client, const std::string& collection,
                  const Matrix<float>& queries,
                  const v1::SearchParams& params) {
  Results r;
  for (size_t q = 0; q < queries.rows; ++q) {
    auto hits = client.Search(
        collection, std::span<const float>(queries.row(q), queries.cols),
        params);
    EXPECT_TRUE(hits.ok()) << hits.status();
    if (!hits.ok()) return r;
    r.ids.emplace_back();
    r.scores.emplace_back();
    for (const v1::Hit& h : *hits) {
      r.ids.back().push_back(h.id().u64());
      r.scores.back().push_back(h.score());
    }
  }
  return r;
}

double RecallAt10(const Results& r, const Matrix<int32_t>& truth) {
  double found = 0;
  for (size_t q = 0; q < r.ids.size(); ++q) {
    std::set<uint64_t> gt(truth.row(q), truth.row(q) + 10);
    for (size_t i = 0; i < std::min<size_t>(10, r.ids[q].size()); ++i) {
      found += gt.count(r.ids[q][i]);
    }
  }
  return found / (10.0 * r.ids.size());
}

TEST(ServerEndToEndTest, SiftIngestSearchRestartIdentical) {
  const testing::Dataset ds = testing::LoadSiftSmall();
  TempDir dir;
  const ServerConfig config = TestConfig(dir.Sub("data"));
  auto server = StartServer(config);
  ASSERT_NE(server, nullptr);
  auto client = ClientFor(*server);

  auto info = client->CreateCollection("sift", ds.base.cols, v1::METRIC_L2,
                                       "IVF64,PQ32x4fs,Refine(Flat)");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->index_spec(), "IVF64,PQ32x4fs,Refine(Flat)");

  IngestOptions options;
  options.batch_rows = 1000;
  std::vector<uint64_t> acked;
  options.on_progress = [&](const IngestProgress& p) {
    acked.push_back(p.rows_acknowledged);
  };
  IngestProgress progress = IngestAll(*client, "sift", ds.base, options);
  EXPECT_EQ(progress.rows_acknowledged, ds.base.rows);
  EXPECT_EQ(progress.inserted, ds.base.rows);
  EXPECT_EQ(progress.updated, 0u);
  // One acknowledgement per batch, in order.
  ASSERT_EQ(acked.size(), (ds.base.rows + 999) / 1000);
  EXPECT_TRUE(std::is_sorted(acked.begin(), acked.end()));

  auto trained = client->Train("sift");
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_GT(trained->model_version(), 0u);
  auto described = client->DescribeCollection("sift");
  ASSERT_TRUE(described.ok());
  EXPECT_EQ(described->live_rows(), ds.base.rows);
  EXPECT_TRUE(described->trained());
  EXPECT_EQ(described->info().state(), v1::COLLECTION_STATE_TRAINED);
  EXPECT_EQ(described->code_size(), 16u);  // 32 x 4 bits

  v1::SearchParams params;
  params.set_k(10);
  params.set_nprobe(8);
  const Results before = SearchAll(*client, "sift", ds.queries, params);
  ASSERT_EQ(before.ids.size(), ds.queries.rows);
  const double recall = RecallAt10(before, ds.truth);
  std::printf(
      "[ figures  ] %s: IVF64,PQ32x4fs,Refine(Flat) nprobe 8 through "
      "gRPC: recall@10 = %.4f\n",
      ds.name.c_str(), recall);
  // The target on the real siftsmall; the generated stand-in (no
  // ../shared) is much harder for PQ4 (0.753 measured), so it gets a floor.
  EXPECT_GE(recall, ds.generated ? 0.70 : 0.93);

  // Payloads come back when asked for.
  params.set_with_payload(true);
  auto hits = client->Search(
      "sift", std::span<const float>(ds.queries.row(0), ds.queries.cols),
      params);
  ASSERT_TRUE(hits.ok());
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].payload(), fmt::format("row {}", (*hits)[0].id().u64()));
  params.set_with_payload(false);

  // Restart: a new server process state over the same directory.
  client.reset();
  server->Shutdown(std::chrono::seconds(5));
  server.reset();
  server = StartServer(config);
  ASSERT_NE(server, nullptr);
  client = ClientFor(*server);
  described = client->DescribeCollection("sift");
  ASSERT_TRUE(described.ok()) << described.status();
  EXPECT_EQ(described->live_rows(), ds.base.rows);
  EXPECT_TRUE(described->trained());
  const Results after = SearchAll(*client, "sift", ds.queries, params);
  ASSERT_EQ(after.ids.size(), before.ids.size());
  for (size_t q = 0; q < before.ids.size(); ++q) {
    EXPECT_EQ(after.ids[q], before.ids[q]) << "query " << q;
    EXPECT_EQ(after.scores[q], before.scores[q]) << "query " << q;
  }

  // The batch form gives the same lists.
  auto batch = client->SearchBatch(
      "sift",
      std::span<const float>(ds.queries.data.data(), 10 * ds.queries.cols),
      ds.queries.cols, params);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->size(), 10u);
  for (size_t q = 0; q < 10; ++q) {
    std::vector<uint64_t> ids;
    for (const v1::Hit& h : (*batch)[q].hits()) ids.push_back(h.id().u64());
    EXPECT_EQ(ids, before.ids[q]) << "query " << q;
  }
}

TEST(ServerEndToEndTest, IngestResumesBySkippingPresentIds) {
  const testing::Dataset ds = testing::Generate(600, 1, 16, Metric::kL2, 7);
  TempDir dir;
  auto server = StartServer(TestConfig(dir.Sub("data")));
  ASSERT_NE(server, nullptr);
  auto client = ClientFor(*server);
  ASSERT_TRUE(client->CreateCollection("c", 16, v1::METRIC_L2, "Flat").ok());

  // A first load that "stopped" after 250 rows.
  Matrix<float> part = ds.base;
  part.rows = 250;
  part.data.resize(250 * 16);
  IngestOptions options;
  options.batch_rows = 100;
  EXPECT_EQ(IngestAll(*client, "c", part, options).rows_acknowledged, 250u);

  options.skip_existing = true;
  IngestProgress resumed = IngestAll(*client, "c", ds.base, options);
  EXPECT_EQ(resumed.rows_skipped, 250u);
  EXPECT_EQ(resumed.rows_acknowledged, 350u);
  EXPECT_EQ(resumed.inserted, 350u);
  auto d = client->DescribeCollection("c");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->live_rows(), 600u);
}

TEST(ServerEndToEndTest, HealthAndReflection) {
  TempDir dir;
  auto server = StartServer(TestConfig(dir.Sub("data")));
  ASSERT_NE(server, nullptr);
  auto channel = grpc::CreateChannel(server->address(),
                                     grpc::InsecureChannelCredentials());
  // grpc.health.v1.HealthCheckRequest{service: ""} is empty; the answer
  // HealthCheckResponse{status: SERVING} is field 1 = 1.
  auto health = RawCall(channel, "/grpc.health.v1.Health/Check", "");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, std::string("\x08\x01", 2));
  // ServerReflectionRequest{list_services: ""} is field 7, empty string.
  auto services = RawCall(
      channel, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      std::string("\x3a\x00", 2));
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_NE(services->find("qvdb.v1.Qvdb"), std::string::npos);
  EXPECT_NE(services->find("grpc.health.v1.Health"), std::string::npos);

  // After shutdown the health check no longer answers SERVING.
  server->Shutdown(std::chrono::seconds(1));
  auto after = RawCall(channel, "/grpc.health.v1.Health/Check", "");
  EXPECT_FALSE(after.ok() && *after == std::string("\x08\x01", 2));
}

// Several clients ingest and search at once: no errors, and afterwards every
// acknowledged row is there and searches find rows by their own vector.
TEST(ServerEndToEndTest, ConcurrentIngestAndSearch) {
  constexpr int kDim = 32;
  constexpr int kWriters = 3;
  constexpr int kRowsPerWriter = 1500;
  constexpr int kSearchers = 3;
  const testing::Dataset ds =
      testing::Generate(kWriters * kRowsPerWriter, 1, kDim, Metric::kL2, 11);
  TempDir dir;
  auto server = StartServer(TestConfig(dir.Sub("data")));
  ASSERT_NE(server, nullptr);
  auto setup = ClientFor(*server);
  ASSERT_TRUE(setup->CreateCollection("c", kDim, v1::METRIC_L2, "Flat").ok());

  std::atomic<bool> writing{true};
  std::atomic<int> search_errors{0};
  std::atomic<int> searches{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      auto client = ClientFor(*server);  // its own channel
      IngestOptions options;
      options.batch_rows = 250;
      Ingester ingester(client.get(), "c", options);
      for (int i = 0; i < kRowsPerWriter; ++i) {
        const size_t row = size_t(w) * kRowsPerWriter + i;
        ASSERT_TRUE(ingester
                        .Add(MakeRow(row, ds.base.row(row), kDim,
                                     fmt::format("{}", row)))
                        .ok());
      }
      auto done = ingester.Finish();
      ASSERT_TRUE(done.ok()) << done.status();
      EXPECT_EQ(done->rows_acknowledged, uint64_t(kRowsPerWriter));
    });
  }
  for (int s = 0; s < kSearchers; ++s) {
    threads.emplace_back([&, s] {
      auto client = ClientFor(*server);
      v1::SearchParams params;
      params.set_k(5);
      // Bounded: at most 200 searches each, and only while writes run.
      for (int i = 0; i < 200 && writing.load(); ++i) {
        const size_t row = (size_t(s) * 977 + i * 13) % ds.base.rows;
        auto hits = client->Search(
            "c", std::span<const float>(ds.base.row(row), kDim), params);
        if (!hits.ok()) {
          ++search_errors;
          ADD_FAILURE() << hits.status();
        } else {
          ++searches;
          // Flat search: a row already written is its own nearest neighbour.
          if (!hits->empty() && (*hits)[0].id().u64() == row) {
            EXPECT_EQ((*hits)[0].score(), 0.0f);
          }
        }
      }
    });
  }
  for (int w = 0; w < kWriters; ++w) threads[w].join();
  writing = false;
  for (size_t t = kWriters; t < threads.size(); ++t) threads[t].join();
  EXPECT_EQ(search_errors.load(), 0);
  EXPECT_GT(searches.load(), 0);

  auto d = setup->DescribeCollection("c");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->live_rows(), uint64_t(kWriters * kRowsPerWriter));
  // Every row is found as its own nearest neighbour, with its payload.
  v1::SearchParams params;
  params.set_k(1);
  params.set_with_payload(true);
  for (size_t row = 0; row < ds.base.rows; row += 97) {
    auto hits = setup->Search(
        "c", std::span<const float>(ds.base.row(row), kDim), params);
    ASSERT_TRUE(hits.ok()) << hits.status();
    ASSERT_EQ(hits->size(), 1u);
    EXPECT_EQ((*hits)[0].id().u64(), row);
    EXPECT_EQ((*hits)[0].payload(), fmt::format("{}", row));
  }
}

// A producer that pauses longer than a stream may live (its deadline is
// stream_lifetime + timeout) loses nothing: the Ingester rotates or
// reconnects and resends what was not acknowledged.
TEST(ServerEndToEndTest, IngesterSurvivesPausesLongerThanItsStreams) {
  TempDir dir;
  auto server = StartServer(TestConfig(dir.Sub("data")));
  ASSERT_NE(server, nullptr);
  client::ClientOptions co;
  co.server = server->address();
  co.timeout = std::chrono::milliseconds(100);
  auto client = Client::Connect(co);
  ASSERT_TRUE(client->CreateCollection("c", 4, v1::METRIC_L2, "Flat").ok());
  IngestOptions options;
  options.batch_rows = 10;
  options.window = 4;
  options.stream_lifetime = std::chrono::milliseconds(50);
  Ingester ingester(client.get(), "c", options);
  const float v[4] = {1, 2, 3, 4};
  for (uint64_t i = 0; i < 200; ++i) {
    ASSERT_TRUE(ingester.Add(MakeRow(i, v, 4, "")).ok());
    if (i % 50 == 49) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  auto done = ingester.Finish();
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->rows_acknowledged, 200u);
  auto d = client->DescribeCollection("c");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->live_rows(), 200u);
}

// The client retries UNAVAILABLE: a call made while no server listens
// succeeds once one starts; an Ingest stream cut by a server restart
// reconnects and resends what was not acknowledged, losing nothing.
TEST(ServerEndToEndTest, ClientRetriesAcrossAServerRestart) {
  constexpr int kDim = 16;
  constexpr size_t kRows = 20000;
  TempDir dir;
  ServerConfig config = TestConfig(dir.Sub("data"));
  auto server = StartServer(config);
  ASSERT_NE(server, nullptr);
  // The next servers listen on the same port.
  config.listen = server->address();

  client::ClientOptions options;
  options.server = server->address();
  options.max_attempts = 50;
  options.initial_backoff = std::chrono::milliseconds(20);
  options.max_backoff = std::chrono::milliseconds(100);
  auto client = Client::Connect(options);
  ASSERT_TRUE(client->CreateCollection("c", kDim, v1::METRIC_L2, "Flat").ok());

  std::atomic<uint64_t> acked{0};
  IngestProgress result;
  absl::Status status;
  std::thread writer([&] {
    IngestOptions o;
    o.batch_rows = 100;
    o.on_progress = [&](const IngestProgress& p) {
      acked = p.rows_acknowledged;
    };
    Ingester ingester(client.get(), "c", o);
    for (uint64_t i = 0; i < kRows && status.ok(); ++i) {
      v1::Row row;
      row.mutable_id()->set_u64(i);
      for (int j = 0; j < kDim; ++j) row.add_vector(float((i + j) % 89));
      status = ingester.Add(std::move(row));
    }
    if (status.ok()) {
      auto done = ingester.Finish();
      status = done.status();
      if (done.ok()) result = *done;
    }
  });
  while (acked.load() < 1000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server->Shutdown(std::chrono::seconds(2));
  server.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  server = StartServer(config);
  ASSERT_NE(server, nullptr);
  writer.join();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(result.rows_added, kRows);
  EXPECT_GE(result.reconnects, 1u);
  auto d = client->DescribeCollection("c");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->live_rows(), kRows);

  // A unary call while nothing listens, answered once the server is back.
  server->Shutdown(std::chrono::seconds(2));
  server.reset();
  std::thread restarter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    server = StartServer(config);
  });
  auto list = client->ListCollections();
  restarter.join();
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->size(), 1u);
}

}  // namespace
}  // namespace qvdb
