// grpc.health.v1.Health/Check over a channel, without the health proto:
// the request is empty and the answer is field 1 (status) as a varint.
#pragma once

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace drover::testing {

// The call's status, and the serving status (1 SERVING, 2 NOT_SERVING) when
// it is OK (-1: an answer of another shape).
inline std::pair<grpc::Status, int> HealthCheck(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub generic(channel);
  grpc::ByteBuffer request(nullptr, 0), response;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                    [&](grpc::Status s) {
                      std::lock_guard<std::mutex> l(mu);
                      status = s;
                      done = true;
                      cv.notify_one();
                    });
  std::unique_lock<std::mutex> l(mu);
  cv.wait(l, [&] { return done; });
  if (!status.ok()) return {status, 0};
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return {status, -1};
  std::string bytes;
  for (const grpc::Slice& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return {status, bytes.size() == 2 && bytes[0] == '\x08' ? bytes[1] : -1};
}

}  // namespace drover::testing
