// qvdb-grpc-bench: the cost of the gRPC service over the same search run
// in-process. Loads siftsmall (or its generated stand-in) into a collection
// (IVF64,PQ32x4fs,Refine(Flat), trained), then for batch sizes 1 and 32 and
// 1 and 4 client threads measures queries per second and per-call p50/p99
// latency, first calling Engine::Search directly, then through a real
// server on a loopback port with the real client (one channel per thread),
// both over the same reopened data directory with warm caches.
// Prints recall@10 next to every speed (the same queries, nprobe 8).
//
// The server runs as its own process (qvdb-server, as deployed) unless
// --in-process-server: in one process, gRPC's client and server share
// their polling threads, which adds a thread hand-over to every call that
// two processes do not pay.
//
//   qvdb-grpc-bench [--seconds 3] [--nprobe 8] [--in-process-server]
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "client/client.h"
#include "server/engine/collection_engine.h"
#include "server/qvdb_server.h"
#include "tests/test_data.h"

extern char** environ;

namespace qvdb {
namespace {

using Clock = std::chrono::steady_clock;

// qvdb-server as a child process on a free loopback port; SIGTERM and
// wait on destruction.
class ServerProcess {
 public:
  explicit ServerProcess(const std::string& data_dir) {
    const std::string port_file = data_dir + ".port";
    std::vector<std::string> args = {QVDB_SERVER_BINARY,
                                     "--data",
                                     data_dir,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--auto-train",
                                     "false",
                                     "--search-threads",
                                     "1",
                                     "--log-level",
                                     "warn",
                                     "--port-file",
                                     port_file};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, QVDB_SERVER_BINARY, nullptr, nullptr, argv.data(),
                    environ) != 0) {
      pid_ = -1;
      return;
    }
    for (int i = 0; i < 600 && port_ == 0; ++i) {
      std::ifstream in(port_file);
      if (!(in >> port_)) port_ = 0;
      if (port_ == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
  ~ServerProcess() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  // Empty when the server did not start.
  std::string address() const {
    return port_ > 0 ? fmt::format("127.0.0.1:{}", port_) : "";
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

struct Figures {
  double qps = 0;
  double p50_us = 0;
  double p99_us = 0;
  double recall = 0;
};

// One batch call: fills ids[q] for each query of the batch starting at
// `first`; false on error.
using SearchFn = std::function<bool(int thread, size_t first, int batch,
                                    std::vector<std::vector<uint64_t>>* ids)>;

Figures Measure(const testing::Dataset& ds, int batch, int threads,
                double seconds, const SearchFn& search) {
  std::vector<std::vector<double>> latencies(threads);
  std::atomic<uint64_t> queries{0};
  std::atomic<bool> failed{false};
  double found = 0;
  size_t checked = 0;
  std::mutex mu;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::vector<std::vector<uint64_t>> ids;
      size_t first = (t * 37) % ds.queries.rows;
      while (Clock::now() < end && !failed) {
        const auto t0 = Clock::now();
        if (!search(t, first, batch, &ids)) {
          failed = true;
          return;
        }
        latencies[t].push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - t0)
                .count());
        queries += batch;
        std::lock_guard<std::mutex> lock(mu);
        for (int i = 0; i < batch; ++i) {
          const size_t q = (first + i) % ds.queries.rows;
          std::set<uint64_t> truth(ds.truth.row(q), ds.truth.row(q) + 10);
          for (size_t j = 0; j < std::min<size_t>(10, ids[i].size()); ++j) {
            found += truth.count(ids[i][j]);
          }
          ++checked;
        }
        first = (first + batch) % ds.queries.rows;
      }
    });
  }
  for (auto& th : pool) th.join();
  const double elapsed =
      std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Figures f;
  if (failed || all.empty()) return f;
  f.qps = queries / elapsed;
  f.p50_us = all[all.size() / 2];
  f.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  f.recall = found / (10.0 * checked);
  return f;
}

// Queries first..first+batch-1 (wrapping) as one flat array.
std::vector<float> Batch(const testing::Dataset& ds, size_t first, int batch) {
  std::vector<float> out;
  out.reserve(size_t(batch) * ds.queries.cols);
  for (int i = 0; i < batch; ++i) {
    const float* q = ds.queries.row((first + i) % ds.queries.rows);
    out.insert(out.end(), q, q + ds.queries.cols);
  }
  return out;
}

int Run(double seconds, int nprobe, bool in_process_server) {
  spdlog::set_level(spdlog::level::warn);
  const testing::Dataset ds = testing::LoadSiftSmall();
  std::string tmpl =
      (std::filesystem::temp_directory_path() / "qvdb_grpc_bench_XXXXXX")
          .string();
  if (mkdtemp(tmpl.data()) == nullptr) return 1;
  const std::string data_dir = tmpl + "/data";

  EngineOptions options;
  options.data_dir = data_dir;
  options.storage.create_if_missing = true;
  options.auto_train = false;
  options.search_threads = 1;
  std::vector<std::pair<std::string, Figures>> in_process;
  {
    auto engine = Engine::Open(options);
    if (!engine.ok()) {
      fmt::print(stderr, "{}\n", std::string(engine.status().message()));
      return 1;
    }
    CollectionConfig config{"sift", uint32_t(ds.base.cols), Metric::kL2,
                            "IVF64,PQ32x4fs,Refine(Flat)"};
    if (!(*engine)->CreateCollection(config).ok()) return 1;
    for (size_t first = 0; first < ds.base.rows; first += 1000) {
      std::vector<UpsertRow> rows;
      for (size_t i = first; i < std::min(ds.base.rows, first + 1000); ++i) {
        rows.push_back(
            {UserId(uint64_t(i)),
             std::vector<float>(ds.base.row(i), ds.base.row(i) + ds.base.cols),
             ""});
      }
      if (!(*engine)->Upsert("sift", rows).ok()) return 1;
    }
    if (!(*engine)->Train("sift").ok()) return 1;
  }
  {
    // Reopened, as the server will find it: vectors for Refine(Flat) come
    // from RocksDB's files rather than from its memtable.
    auto engine = Engine::Open(options);
    if (!engine.ok()) return 1;
    SearchOptions so;
    so.k = 10;
    so.nprobe = nprobe;
    so.with_payload = false;
    for (size_t q = 0; q < ds.queries.rows; ++q) {  // warm the caches
      (void)(*engine)->Search("sift", Batch(ds, q, 1), so);
    }
    for (int batch : {1, 32}) {
      for (int threads : {1, 4}) {
        Figures f = Measure(ds, batch, threads, seconds,
                            [&](int, size_t first, int b,
                                std::vector<std::vector<uint64_t>>* ids) {
                              auto hits = (*engine)->Search(
                                  "sift", Batch(ds, first, b), so);
                              if (!hits.ok()) return false;
                              ids->assign(b, {});
                              for (int i = 0; i < b; ++i) {
                                for (const Hit& h : (*hits)[i]) {
                                  (*ids)[i].push_back(std::get<uint64_t>(h.id));
                                }
                              }
                              return true;
                            });
        in_process.push_back({fmt::format("{} {}", batch, threads), f});
      }
    }
  }

  std::unique_ptr<QvdbServer> own_server;
  std::unique_ptr<ServerProcess> child;
  std::string address;
  if (in_process_server) {
    ServerConfig config;
    config.data_dir = data_dir;
    config.listen = "127.0.0.1:0";
    config.auto_train = false;
    config.search_threads = 1;
    auto server = QvdbServer::Start(config);
    if (!server.ok()) {
      fmt::print(stderr, "{}\n", std::string(server.status().message()));
      return 1;
    }
    own_server = *std::move(server);
    address = own_server->address();
  } else {
    child = std::make_unique<ServerProcess>(data_dir);
    address = child->address();
    if (address.empty()) {
      fmt::print(stderr, "{} did not start\n", QVDB_SERVER_BINARY);
      return 1;
    }
  }
  fmt::print(
      "{}: IVF64,PQ32x4fs,Refine(Flat), k 10, nprobe {}, refine factor 4, "
      "{} s per row, search threads per call 1, server {}\n\n",
      ds.name, nprobe, seconds,
      in_process_server ? "in the bench's process" : "a separate process");
  fmt::print(
      "{:>5} {:>7} | {:>9} {:>8} {:>8} | {:>9} {:>8} {:>8} | {:>7} "
      "{:>9} | {:>6}\n",
      "batch", "clients", "inproc q/s", "p50 us", "p99 us", "gRPC q/s",
      "p50 us", "p99 us", "ratio", "+p50 us", "recall");
  size_t row = 0;
  double server_p50 = 0;  // Search p50 in the server's histogram, row 0
  for (int batch : {1, 32}) {
    for (int threads : {1, 4}) {
      std::vector<std::unique_ptr<client::Client>> clients;
      for (int t = 0; t < threads; ++t) {
        client::ClientOptions co;
        co.server = address;
        clients.push_back(client::Client::Connect(co));
      }
      v1::SearchParams params;
      params.set_k(10);
      params.set_nprobe(nprobe);
      if (row == 0) {  // warm the caches, as in-process
        for (size_t q = 0; q < ds.queries.rows; ++q) {
          (void)clients[0]->Search("sift", Batch(ds, q, 1), params);
        }
      }
      Figures g = Measure(ds, batch, threads, seconds,
                          [&](int t, size_t first, int b,
                              std::vector<std::vector<uint64_t>>* ids) {
                            const std::vector<float> q = Batch(ds, first, b);
                            ids->assign(b, {});
                            if (b == 1) {
                              auto hits = clients[t]->Search("sift", q, params);
                              if (!hits.ok()) return false;
                              for (const v1::Hit& h : *hits)
                                (*ids)[0].push_back(h.id().u64());
                              return true;
                            }
                            auto results = clients[t]->SearchBatch(
                                "sift", q, ds.queries.cols, params);
                            if (!results.ok()) return false;
                            for (int i = 0; i < b; ++i) {
                              for (const v1::Hit& h : (*results)[i].hits()) {
                                (*ids)[i].push_back(h.id().u64());
                              }
                            }
                            return true;
                          });
      if (row == 0) {
        // The server's own Search time over the 1-client single queries.
        auto stats = clients[0]->GetStats("");
        if (stats.ok()) {
          for (const v1::MethodStats& m : stats->server().methods()) {
            if (m.method() == "Search") server_p50 = m.p50_micros();
          }
        }
      }
      const Figures& p = in_process[row++].second;
      fmt::print(
          "{:>5} {:>7} | {:>9.0f} {:>8.0f} {:>8.0f} | {:>9.0f} {:>8.0f} "
          "{:>8.0f} | {:>6.0f}% {:>9.0f} | {:>6.3f}\n",
          batch, threads, p.qps, p.p50_us, p.p99_us, g.qps, g.p50_us, g.p99_us,
          p.qps > 0 ? 100.0 * g.qps / p.qps : 0.0, g.p50_us - p.p50_us,
          g.recall);
    }
  }
  // Where the added time goes: a call that does no search (the transport,
  // gRPC and the service's own checks), and the Search time the server
  // measured itself (its histogram, bucket upper bound) against in-process.
  {
    v1::SearchParams params;
    params.set_k(10);
    client::ClientOptions co;
    co.server = address;
    auto c = client::Client::Connect(co);
    Figures empty =
        Measure(ds, 1, 1, std::min(seconds, 2.0),
                [&](int, size_t, int, std::vector<std::vector<uint64_t>>* ids) {
                  ids->assign(1, {});
                  // Rejected at once: no collection named.
                  return absl::IsInvalidArgument(
                      c->Search("", Batch(ds, 0, 1), params).status());
                });
    fmt::print(
        "\nno-search round trip (Search rejected before any work): p50 {:.0f} "
        "us, p99 {:.0f} us\nSearch p50 inside the server (batch 1, 1 client; "
        "bucket bound, within 19 %): {:.0f} us; in-process p50 {:.0f} us\n",
        empty.p50_us, empty.p99_us, server_p50, in_process[0].second.p50_us);
  }
  if (own_server != nullptr) own_server->Shutdown(std::chrono::seconds(1));
  own_server.reset();
  child.reset();
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
  return 0;
}

}  // namespace
}  // namespace qvdb

int main(int argc, char** argv) {
  CLI::App app("qvdb-grpc-bench: gRPC service against in-process search");
  double seconds = 3;
  int nprobe = 8;
  app.add_option("--seconds", seconds, "Seconds per measurement")
      ->capture_default_str();
  app.add_option("--nprobe", nprobe, "IVF lists scanned")
      ->capture_default_str();
  bool in_process_server = false;
  app.add_flag("--in-process-server", in_process_server,
               "Run the server inside the bench's process");
  CLI11_PARSE(app, argc, argv);
  return qvdb::Run(seconds, nprobe, in_process_server);
}
