#include "client/ingester.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "base/status_macros.h"

namespace qvdb::client {

struct Ingester::Stream {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<v1::IngestRequest, v1::IngestAck>>
      rw;
  std::chrono::steady_clock::time_point opened;
};

Ingester::Ingester(Client* client, std::string collection,
                   IngestOptions options)
    : client_(client),
      collection_(std::move(collection)),
      options_(std::move(options)) {
  pending_.set_collection(collection_);
}

Ingester::~Ingester() {
  if (stream_ != nullptr) {
    stream_->context.TryCancel();
    stream_->rw->Finish().IgnoreError();
  }
}

absl::Status Ingester::Add(v1::Row row) {
  RETURN_IF_ERROR(error_);
  pending_bytes_ += row.vector_size() * sizeof(float) + row.payload().size() +
                    row.id().str().size() + 16;
  *pending_.add_rows() = std::move(row);
  ++progress_.rows_added;
  if (static_cast<size_t>(pending_.rows_size()) >=
          std::max<size_t>(1, options_.batch_rows) ||
      pending_bytes_ >= options_.batch_bytes) {
    return SendBatch();
  }
  return absl::OkStatus();
}

absl::StatusOr<IngestProgress> Ingester::Finish() {
  RETURN_IF_ERROR(error_);
  RETURN_IF_ERROR(SendBatch());
  RETURN_IF_ERROR(CloseStream());
  return progress_;
}

absl::Status Ingester::Fail(absl::Status status) {
  if (stream_ != nullptr) {
    stream_->context.TryCancel();
    stream_->rw->Finish().IgnoreError();
    stream_.reset();
  }
  error_ = absl::Status(
      status.code(),
      fmt::format("{} ({} rows acknowledged and stored before this error; "
                  "the rows not acknowledged were not all stored)",
                  std::string(status.message()), progress_.rows_acknowledged));
  return error_;
}

absl::Status Ingester::SendBatch() {
  if (pending_.rows_size() == 0) return absl::OkStatus();
  v1::IngestRequest batch;
  batch.set_collection(collection_);
  batch.mutable_rows()->Swap(pending_.mutable_rows());
  pending_bytes_ = 0;

  if (options_.skip_existing) {
    std::vector<v1::Id> ids;
    ids.reserve(batch.rows_size());
    for (const v1::Row& row : batch.rows()) ids.push_back(row.id());
    auto found = client_->Get(collection_, ids, /*with_payload=*/false,
                              /*with_vector=*/false);
    if (!found.ok()) return Fail(found.status());
    v1::IngestRequest missing;
    missing.set_collection(collection_);
    for (int i = 0; i < batch.rows_size(); ++i) {
      if (i < static_cast<int>(found->size()) && (*found)[i].found()) {
        ++progress_.rows_skipped;
      } else {
        *missing.add_rows() = std::move(*batch.mutable_rows(i));
      }
    }
    batch = std::move(missing);
    if (batch.rows_size() == 0) {
      if (options_.on_progress) options_.on_progress(progress_);
      return absl::OkStatus();
    }
  }

  // Rotate a stream that has lived long enough (see stream_lifetime).
  if (stream_ != nullptr && std::chrono::steady_clock::now() - stream_->opened >
                                options_.stream_lifetime) {
    RETURN_IF_ERROR(CloseStream());
  }

  unacked_.push_back(std::move(batch));
  if (stream_ == nullptr) {
    RETURN_IF_ERROR(OpenAndResend());
  } else if (!stream_->rw->Write(unacked_.back())) {
    RETURN_IF_ERROR(Recover());
    RETURN_IF_ERROR(OpenAndResend());
  }
  return DrainAcks(static_cast<size_t>(std::max(1, options_.window)));
}

absl::Status Ingester::OpenAndResend() {
  while (true) {
    stream_ = std::make_unique<Stream>();
    stream_->opened = std::chrono::steady_clock::now();
    stream_->context.set_deadline(std::chrono::system_clock::now() +
                                  options_.stream_lifetime +
                                  client_->options().timeout);
    stream_->rw = client_->stub()->Ingest(&stream_->context);
    bool ok = true;
    for (const v1::IngestRequest& batch : unacked_) {
      if (!(ok = stream_->rw->Write(batch))) break;
    }
    if (ok) return absl::OkStatus();
    RETURN_IF_ERROR(Recover());
  }
}

absl::Status Ingester::Recover() {
  grpc::Status status = stream_->rw->Finish();
  // Our own stream deadline (the producer paused longer than the stream's
  // lifetime allows) is not the server's fault: reconnect.
  const bool own_deadline =
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
      std::chrono::steady_clock::now() - stream_->opened >=
          options_.stream_lifetime + client_->options().timeout;
  stream_.reset();
  if (status.ok() || own_deadline) {
    // The server ended the stream without acknowledging everything sent.
    status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the Ingest stream ended before every batch was "
                          "acknowledged");
  }
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE ||
      failed_attempts_ + 1 >= std::max(1, client_->options().max_attempts)) {
    return Fail(FromGrpcStatus(status));
  }
  ++failed_attempts_;
  ++progress_.reconnects;
  SleepBackoff(client_->options(), failed_attempts_ + 1);
  return absl::OkStatus();
}

absl::Status Ingester::DrainAcks(size_t max_unacked) {
  while (unacked_.size() > max_unacked) {
    if (stream_ == nullptr) RETURN_IF_ERROR(OpenAndResend());
    v1::IngestAck ack;
    if (!stream_->rw->Read(&ack)) {
      RETURN_IF_ERROR(Recover());
      continue;
    }
    const v1::IngestRequest& batch = unacked_.front();
    if (ack.rows() != static_cast<uint64_t>(batch.rows_size())) {
      return Fail(absl::InternalError(
          fmt::format("the server acknowledged {} rows for a batch of {}",
                      ack.rows(), batch.rows_size())));
    }
    progress_.rows_acknowledged += ack.rows();
    progress_.inserted += ack.inserted();
    progress_.updated += ack.updated();
    ++progress_.batches_acknowledged;
    unacked_.pop_front();
    failed_attempts_ = 0;
    if (options_.on_progress) options_.on_progress(progress_);
  }
  return absl::OkStatus();
}

absl::Status Ingester::CloseStream() {
  RETURN_IF_ERROR(DrainAcks(0));
  if (stream_ == nullptr) return absl::OkStatus();
  stream_->rw->WritesDone();
  grpc::Status status = stream_->rw->Finish();
  stream_.reset();
  // Everything was acknowledged, so nothing is lost whatever the status;
  // a failure here is still reported (it should not happen).
  if (!status.ok() && status.error_code() != grpc::StatusCode::UNAVAILABLE) {
    return Fail(FromGrpcStatus(status));
  }
  return absl::OkStatus();
}

}  // namespace qvdb::client
