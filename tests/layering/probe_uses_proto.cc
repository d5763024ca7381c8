// Built only by layering_probe_rollout_proto, which passes only if this
// fails to COMPILE: the generated messages are not on the domain's path.
#include "drover/v1/types.pb.h"

int main() { return 0; }
