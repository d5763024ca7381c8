// Built only by layering_probe_common_grpc, which passes only if this fails
// to LINK: the domain cannot open a gRPC channel.
#include <grpcpp/grpcpp.h>

int main(int argc, char** argv) {
  auto channel = grpc::CreateChannel(argc > 1 ? argv[1] : "localhost:1", grpc::InsecureChannelCredentials());
  return channel ? 0 : 1;
}
