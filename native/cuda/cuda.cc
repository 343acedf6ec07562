// CUDA availability, synchronisation, memory statistics and autocast. Compiles to CPU stubs when
// the linked LibTorch has no CUDA (SMAE_WITH_CUDA unset).
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>

#ifdef SMAE_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

#include "../common/args.h"

using smae::Args;
using smae::JsError;

#define SMAE_TORCH_AT_LEAST(maj, min) (SMAE_TORCH_MAJOR > (maj) || (SMAE_TORCH_MAJOR == (maj) && SMAE_TORCH_MINOR >= (min)))

SMAE_OP(cudaIsAvailable) { return a.retBool(at::globalContext().hasCUDA() && at::detail::getCUDAHooks().getNumGPUs() > 0); }
SMAE_OP(cudaDeviceCount) { return a.retNumber(at::globalContext().hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0); }

namespace {
// CUDA's lazy initialisation (context, caching allocator), as torch.cuda.memory_stats() triggers it:
// LibTorch >= 2.6 names it lazyInitDevice(type), older versions lazyInitCUDA(). Overload ranking picks
// whichever this LibTorch has.
template <class C>
auto lazyInitCuda(C& c, int) -> decltype(c.lazyInitDevice(c10::DeviceType::CUDA), void()) {
  c.lazyInitDevice(c10::DeviceType::CUDA);
}
template <class C>
auto lazyInitCuda(C& c, long) -> decltype(c.lazyInitCUDA(), void()) {
  c.lazyInitCUDA();
}

void requireCuda() {
  if (!at::globalContext().hasCUDA()) throw JsError("ERR_DEVICE", "CUDA is not available (this addon is linked against a CPU LibTorch or no GPU is visible)");
  lazyInitCuda(at::globalContext(), 0);
}
}  // namespace

SMAE_OP(cudaSynchronize) {
  requireCuda();
#ifdef SMAE_WITH_CUDA
  c10::cuda::device_synchronize();
#endif
  return a.undefined();
}

/** cudaMemoryStats(device) -> [allocatedCurrent, allocatedPeak, reservedCurrent, reservedPeak, numAllocs] */
SMAE_OP(cudaMemoryStats) {
  requireCuda();
  int64_t dev = a.i64(0);
  napi_value arr;
  napi_create_array_with_length(a.env, 5, &arr);
#ifdef SMAE_WITH_CUDA
  auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(dev));
  const size_t agg = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
  double vals[5] = {static_cast<double>(stats.allocated_bytes[agg].current), static_cast<double>(stats.allocated_bytes[agg].peak),
                    static_cast<double>(stats.reserved_bytes[agg].current), static_cast<double>(stats.reserved_bytes[agg].peak),
                    static_cast<double>(stats.num_alloc_retries)};
  for (uint32_t i = 0; i < 5; i++) napi_set_element(a.env, arr, i, a.retNumber(vals[i]));
#else
  (void)dev;
#endif
  return arr;
}

SMAE_OP(cudaResetPeakMemoryStats) {
  requireCuda();
#ifdef SMAE_WITH_CUDA
  c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(a.i64(0)));
#endif
  return a.undefined();
}

SMAE_OP(cudaEmptyCache) {
  requireCuda();
#ifdef SMAE_WITH_CUDA
  c10::cuda::CUDACachingAllocator::emptyCache();
#endif
  return a.undefined();
}

/** setAutocast(enabled, dtype): CUDA autocast on/off with its lower-precision dtype. Returns the previous state. */
SMAE_OP(setAutocast) {
  bool enabled = a.b(0);
  at::ScalarType dt = a.dtype(1);
  if (enabled) requireCuda();
#if SMAE_TORCH_AT_LEAST(2, 4)
  bool prev = at::autocast::is_autocast_enabled(at::kCUDA);
  at::autocast::set_autocast_enabled(at::kCUDA, enabled);
  at::autocast::set_autocast_dtype(at::kCUDA, dt);
#else
  bool prev = at::autocast::is_enabled();
  at::autocast::set_enabled(enabled);
  at::autocast::set_autocast_gpu_dtype(dt);
#endif
  if (!enabled) at::autocast::clear_cache();
  return a.retBool(prev);
}
