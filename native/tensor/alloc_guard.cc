// LibTorch's CPU allocator, wrapped (installed when the addon loads):
// - a guard: a request larger than the host memory limit (physical memory or the cgroup's limit,
//   common/host_memory.h; say `x.repeat([1e5, 1e5])`) fails with an OOM error instead of being granted by
//   overcommit and killing the process when its pages are touched;
// - a cache of freed blocks of >= 128 KiB (common/host_cache.h), so that the large tensors of the data path
//   (fbank, frames, collated batches) reuse mapped pages instead of faulting in fresh ones from glibc's mmap
//   on every op.
//   Cap: SOCIAL_MAE_HOST_CACHE_BYTES (0 turns it off), default min(1 GiB, host memory limit / 16); smallest
//   block kept: SOCIAL_MAE_HOST_CACHE_MIN_BYTES.
// Every block carries a 64-byte header (the alignment LibTorch's allocator gives) holding its size class
// (0: not cached), so a free needs no lookup and no lock unless the block is cacheable.
// The Allocator interface changed in LibTorch 2.x (non-const allocate, copy_data), so the wrapper is
// compiled for 1.x, the embedded default; 2.x builds keep LibTorch's allocator (no guard, no cache).
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "../common/host_cache.h"
#include "../common/host_memory.h"

#if SMAE_TORCH_MAJOR < 2
namespace {

constexpr size_t kHeader = 64;

c10::Allocator* gInner = nullptr;
c10::DeleterFnPtr gInnerFree = nullptr;
smae::HostBlockCache* gCache = nullptr;  // never destroyed: tensors may be freed during static destruction

void freeAll(const std::vector<void*>& blocks) {
  for (void* base : blocks) gInnerFree(base);
}

/** The deleter of every block this allocator gives (and its raw_deleter). */
void release(void* p) {
  if (p == nullptr) return;
  char* base = static_cast<char*>(p) - kHeader;
  size_t cls;
  std::memcpy(&cls, base, sizeof cls);
  if (cls == 0) return gInnerFree(base);
  std::vector<void*> evicted;
  gCache->put(base, cls, evicted);
  freeAll(evicted);
}

struct CachingCPUAllocator final : c10::Allocator {
  c10::DataPtr allocate(size_t n) const override {
    const smae::HostMemoryLimit& limit = smae::hostMemoryLimit();
    if (n > limit.bytes) {
      TORCH_CHECK(false, "not enough memory: you tried to allocate ", n, " bytes, more than the limit of ", limit.bytes,
                  " bytes (", limit.source, "; SOCIAL_MAE_MAX_ALLOC_BYTES changes it)");
    }
    if (n == 0) return {nullptr, nullptr, &release, c10::Device(c10::DeviceType::CPU)};  // as LibTorch's
    size_t cls = n >= gCache->minBytes() ? smae::hostCacheClass(n) : 0;
    void* base = cls ? gCache->take(cls) : nullptr;
    if (base == nullptr) base = gInner->raw_allocate((cls ? cls : n) + kHeader);
    std::memcpy(base, &cls, sizeof cls);
    void* p = static_cast<char*>(base) + kHeader;
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
};

/** The cap from SOCIAL_MAE_HOST_CACHE_BYTES (a byte count), else the default; `source` says which. */
size_t capFromEnv(std::string& source) {
  size_t fallback = std::min(size_t(1) << 30, smae::hostMemoryLimit().bytes / 16);
  source = "default: min(1 GiB, host memory limit / 16)";
  const char* env = std::getenv("SOCIAL_MAE_HOST_CACHE_BYTES");
  if (env == nullptr || *env == '\0') return fallback;
  char* end = nullptr;
  unsigned long long v = std::strtoull(env, &end, 10);
  if (*env == '-' || end == env || *end != '\0') {
    source += std::string(" (SOCIAL_MAE_HOST_CACHE_BYTES='") + env + "' ignored: not a byte count)";
    return fallback;
  }
  source = "SOCIAL_MAE_HOST_CACHE_BYTES";
  return static_cast<size_t>(v);
}

/** The smallest block kept: SOCIAL_MAE_HOST_CACHE_MIN_BYTES (a byte count >= 1), else 128 KiB (glibc's default
 *  mmap threshold). Also where malloc_tune.h raised that threshold to 32 MiB: blocks between the two then come
 *  from glibc's heap without faults too, but keeping them measured the same on the loader and 3x cheaper on
 *  collated batches whose audio tensor is just below 32 MiB (bench/results/host_alloc_min_block.json). */
size_t minFromEnv(std::string& source) {
  size_t fallback = smae::kGlibcMmapThreshold;
  const char* env = std::getenv("SOCIAL_MAE_HOST_CACHE_MIN_BYTES");
  if (env == nullptr || *env == '\0') return fallback;
  char* end = nullptr;
  unsigned long long v = std::strtoull(env, &end, 10);
  if (*env == '-' || end == env || *end != '\0' || v == 0) {
    source += std::string("; SOCIAL_MAE_HOST_CACHE_MIN_BYTES='") + env + "' ignored: not a byte count >= 1";
    return fallback;
  }
  source += "; blocks from SOCIAL_MAE_HOST_CACHE_MIN_BYTES";
  return static_cast<size_t>(v);
}

struct Install {
  Install() {
    c10::Allocator* inner = c10::GetCPUAllocator();
    // LibTorch's default allocator gives data == context with a raw deleter; another one is left alone.
    if (inner->raw_deleter() == nullptr) return;
    gInner = inner;
    gInnerFree = inner->raw_deleter();
    std::string source;
    size_t cap = capFromEnv(source);
    size_t minBytes = minFromEnv(source);
    gCache = new smae::HostBlockCache(cap, minBytes, source);
    static CachingCPUAllocator allocator;
    c10::SetCPUAllocator(&allocator, /*priority=*/1);
  }
} install;

}  // namespace

namespace smae {
HostBlockCache* hostBlockCache() { return gCache; }
}  // namespace smae
#else
namespace smae {
HostBlockCache* hostBlockCache() { return nullptr; }
}  // namespace smae
#endif

namespace smae {

HostCacheStats hostCacheStats() {
  if (HostBlockCache* c = hostBlockCache()) return c->stats();
  return {false, 0, 0, 0, 0, 0, 0, 0, "not installed (LibTorch 2.x builds keep LibTorch's CPU allocator, as 1.x does when another allocator without a raw deleter is set)"};
}

bool setHostCacheBytes(size_t cap, size_t minBytes) {
#if SMAE_TORCH_MAJOR < 2
  if (gCache == nullptr) return false;
  std::vector<void*> evicted;
  gCache->configure(cap, minBytes, "torch.setHostCacheBytes", evicted);
  freeAll(evicted);
  return true;
#else
  (void)cap;
  (void)minBytes;
  return false;
#endif
}

}  // namespace smae
