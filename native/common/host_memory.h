// The host memory a single allocation may take: the smaller of physical memory and every cgroup memory
// limit (v1 `memory.limit_in_bytes`, v2 `memory.max`) on the path of this process's cgroup, or
// SOCIAL_MAE_MAX_ALLOC_BYTES when set. One owner for the rule: the allocator guard (alloc_guard.cc) and
// the shape check of the creation ops (creation.cc) both ask here.
#pragma once
#include <cstddef>
#include <string>

namespace smae {

struct HostMemoryLimit {
  size_t bytes;        // the limit
  std::string source;  // "physical memory", "cgroup v1 /path", "cgroup v2 /path" or "SOCIAL_MAE_MAX_ALLOC_BYTES"
};

/** Computed once, when first asked (the cgroup of a running process rarely changes; a process moved to
 *  another cgroup after the addon loaded keeps the first answer). */
const HostMemoryLimit& hostMemoryLimit();

}  // namespace smae
