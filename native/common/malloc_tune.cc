// See malloc_tune.h. Measured with bench/host_alloc.ts (bench/results/host_alloc.json, 2 cores, load ~3): with
// the host block cache alone, glibc still serves the large non-tensor blocks of a clip (libav frames, V8
// ArrayBuffers) by mmap, ~8,800 minor faults and 0.40 CPU-s per cold 720p clip; with these thresholds too,
// ~2,200 faults and 0.35 (0.31 with the thresholds alone; glibc's defaults and no cache: 0.36). The values
// are glibc's own dynamic ceiling for mmap (32 MiB) and 4x that for trim (glibc's dynamic rule is 2x): at
// most 128 MiB of free heap is kept per malloc arena before it is returned.
// A fixed threshold turns glibc's dynamic adjustment off, so this is skipped when the user set either
// threshold in GLIBC_TUNABLES or via MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_, and
// SOCIAL_MAE_MALLOC_TUNE=0 leaves glibc alone. The whole process is affected (that is the point: V8 and
// the decoders allocate through the same malloc).
#include "malloc_tune.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace smae {
namespace {

constexpr size_t kMmapThreshold = size_t(32) << 20;
constexpr size_t kTrimThreshold = size_t(128) << 20;

MallocTune apply() {
#if defined(__GLIBC__)
  const char* off = std::getenv("SOCIAL_MAE_MALLOC_TUNE");
  if (off && std::strcmp(off, "0") == 0) return {false, 0, 0, "off (SOCIAL_MAE_MALLOC_TUNE=0)"};
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if ((tunables && (std::strstr(tunables, "malloc.mmap_threshold") || std::strstr(tunables, "malloc.trim_threshold"))) ||
      std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_")) {
    return {false, 0, 0, "not set: the environment sets glibc's thresholds"};
  }
  if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThreshold)) != 1 || mallopt(M_TRIM_THRESHOLD, static_cast<int>(kTrimThreshold)) != 1) {
    return {false, 0, 0, "not set: mallopt refused"};
  }
  return {true, kMmapThreshold, kTrimThreshold, "glibc mmap_threshold 32 MiB, trim_threshold 128 MiB (SOCIAL_MAE_MALLOC_TUNE=0 leaves glibc's defaults)"};
#else
  return {false, 0, 0, "not set: not glibc"};
#endif
}

[[maybe_unused]] const MallocTune& tune = mallocTune();  // applied when the addon loads

}  // namespace

const MallocTune& mallocTune() {
  static const MallocTune t = apply();
  return t;
}

}  // namespace smae
