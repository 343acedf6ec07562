// A guard on host allocations: a request larger than the host memory limit (physical memory or the
// cgroup's limit, common/host_memory.h; say `x.repeat([1e5, 1e5])`)
// fails with an OOM error instead of being granted by overcommit and killing the process when its
// pages are touched. Wraps LibTorch's CPU allocator; installed when the addon loads.
// The Allocator interface changed in LibTorch 2.x (non-const allocate, copy_data), so the guard is
// compiled for 1.x, the embedded default; 2.x builds keep LibTorch's allocator.
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include "../common/host_memory.h"

#if SMAE_TORCH_MAJOR < 2
namespace {

struct GuardedCPUAllocator final : c10::Allocator {
  c10::Allocator* inner;
  explicit GuardedCPUAllocator(c10::Allocator* a) : inner(a) {}
  c10::DataPtr allocate(size_t n) const override {
    const smae::HostMemoryLimit& limit = smae::hostMemoryLimit();
    if (n > limit.bytes) {
      TORCH_CHECK(false, "not enough memory: you tried to allocate ", n, " bytes, more than the limit of ", limit.bytes,
                  " bytes (", limit.source, "; SOCIAL_MAE_MAX_ALLOC_BYTES changes it)");
    }
    return inner->allocate(n);
  }
  c10::DeleterFnPtr raw_deleter() const override { return inner->raw_deleter(); }
};

struct Install {
  Install() {
    static GuardedCPUAllocator guard(c10::GetCPUAllocator());
    c10::SetCPUAllocator(&guard, /*priority=*/1);
  }
} install;

}  // namespace
#endif
