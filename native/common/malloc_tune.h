// glibc's malloc thresholds, set once when the addon loads (malloc_tune.cc): large blocks (decoder frames,
// V8 ArrayBuffers from toArray, batch arrays) come from the heap with their pages kept mapped, instead of a
// fresh mmap per block that faults every page in and unmaps it on free.
#pragma once
#include <cstddef>
#include <string>

namespace smae {

struct MallocTune {
  bool applied;
  size_t mmapThreshold;  // bytes; 0 when not applied
  size_t trimThreshold;  // bytes; 0 when not applied
  std::string source;    // why (or why not)
};

const MallocTune& mallocTune();

}  // namespace smae
