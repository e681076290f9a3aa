// Test support for the service's end-to-end tests (not part of
// qvdb_service): a real server on a free loopback port over a temporary
// data directory, a client for it, and raw gRPC calls to services we have
// no generated stubs for (health, reflection).
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "client/client.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/qvdb_server.h"
#include "storage/test_util.h"

namespace qvdb::service_testing {

using storage_testing::TempDir;

// Loopback, port 0 (the kernel picks a free one), no automatic training
// (tests train explicitly), two search threads, quiet logs.
inline ServerConfig TestConfig(const std::string& data_dir) {
  spdlog::set_level(spdlog::level::warn);
  ServerConfig c;
  c.data_dir = data_dir;
  c.listen = "127.0.0.1:0";
  c.auto_train = false;
  c.search_threads = 2;
  c.shutdown_grace_seconds = 5;
  return c;
}

inline std::unique_ptr<QvdbServer> StartServer(const ServerConfig& config) {
  auto server = QvdbServer::Start(config);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

inline std::unique_ptr<client::Client> ClientFor(const QvdbServer& server,
                                                 int attempts = 3) {
  client::ClientOptions o;
  o.server = server.address();
  o.max_attempts = attempts;
  o.initial_backoff = std::chrono::milliseconds(20);
  return client::Client::Connect(o);
}

// One request and one response of `method` ("/pkg.Service/Method") as raw
// bytes, through gRPC's generic stub (works for unary methods and for a
// bidi stream answered by one message).
inline absl::StatusOr<std::string> RawCall(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
    const std::string& request) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(&context, method, &cq);
  // Each operation is awaited before the next; tags are their numbers.
  auto await = [&cq](intptr_t expect) {
    void* tag = nullptr;
    bool ok = false;
    return cq.Next(&tag, &ok) && tag == reinterpret_cast<void*>(expect) && ok;
  };
  grpc::Slice slice(request);
  grpc::ByteBuffer send(&slice, 1);
  grpc::ByteBuffer received;
  call->StartCall(reinterpret_cast<void*>(1));
  bool got = await(1);
  if (got) {
    call->Write(send, reinterpret_cast<void*>(2));
    got = await(2);
  }
  if (got) {
    call->WritesDone(reinterpret_cast<void*>(3));
    got = await(3);
  }
  if (got) {
    call->Read(&received, reinterpret_cast<void*>(4));
    got = await(4);
  }
  if (!got) context.TryCancel();
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  await(5);
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
  if (!status.ok()) return client::FromGrpcStatus(status);
  if (!got) return absl::DataLossError("no response message");
  std::vector<grpc::Slice> slices;
  (void)received.Dump(&slices);
  std::string out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

}  // namespace qvdb::service_testing
