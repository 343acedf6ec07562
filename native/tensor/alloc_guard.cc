// A guard on host allocations: a request larger than physical memory (say `x.repeat([1e5, 1e5])`)
// fails with an OOM error instead of being granted by overcommit and killing the process when its
// pages are touched. Wraps LibTorch's CPU allocator; installed when the addon loads.
// The Allocator interface changed in LibTorch 2.x (non-const allocate, copy_data), so the guard is
// compiled for 1.x, the embedded default; 2.x builds keep LibTorch's allocator.
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#if SMAE_TORCH_MAJOR < 2
namespace {

size_t limitBytes() {
  if (const char* env = std::getenv("SOCIAL_MAE_MAX_ALLOC_BYTES")) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(env, &end, 10);
    if (end && *end == '\0' && v > 0) return static_cast<size_t>(v);
  }
  return static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

struct GuardedCPUAllocator final : c10::Allocator {
  c10::Allocator* inner;
  size_t limit;
  GuardedCPUAllocator(c10::Allocator* a, size_t l) : inner(a), limit(l) {}
  c10::DataPtr allocate(size_t n) const override {
    if (n > limit) {
      TORCH_CHECK(false, "not enough memory: you tried to allocate ", n, " bytes, more than this machine's ", limit,
                  " bytes (SOCIAL_MAE_MAX_ALLOC_BYTES changes the limit)");
    }
    return inner->allocate(n);
  }
  c10::DeleterFnPtr raw_deleter() const override { return inner->raw_deleter(); }
};

struct Install {
  Install() {
    static GuardedCPUAllocator guard(c10::GetCPUAllocator(), limitBytes());
    c10::SetCPUAllocator(&guard, /*priority=*/1);
  }
} install;

}  // namespace
#endif
