// Lifetime (dispose, keep, scopes), metadata, library configuration.
#include <ATen/Context.h>
#include <dlfcn.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <string>

#include "../common/args.h"
#include "../common/host_cache.h"
#include "../common/host_memory.h"
#include "../common/malloc_tune.h"

using smae::Args;

SMAE_OP(setErrorClass) {
  napi_valuetype t = a.type(0);
  if (t != napi_function) a.fail(0, "a function");
  if (a.st.errorClass) napi_delete_reference(a.env, a.st.errorClass);
  napi_create_reference(a.env, a.argv[0], 1, &a.st.errorClass);
  return a.undefined();
}

SMAE_OP(dispose) { return a.retBool(smae::release(a.st, a.d(0))); }

/** isLive(id): no exception on the way (it is called for every unscoped tensor, see lib/tensor/tensor.ts). */
SMAE_OP(isLive) {
  double id;
  if (napi_get_value_double(a.env, a.argv[0], &id) != napi_ok) return a.retBool(false);
  return a.retBool(smae::isLive(a.st, id));
}

SMAE_OP(keep) {
  smae::keep(a.st, a.d(0));
  return a.undefined();
}

SMAE_OP(beginScope) {
  smae::beginScope(a.st);
  return a.retNumber(static_cast<double>(a.st.scopes.size()));
}

/** endScope(survivorIds[]) */
SMAE_OP(endScope) {
  smae::endScope(a.st, a.doubles(0));
  return a.undefined();
}

SMAE_OP(scopeDepth) { return a.retNumber(static_cast<double>(a.st.scopes.size())); }

/** memory() -> [liveTensors, hostBytes, cudaBytes, hostLimitBytes, hostLimitSource]; also reports host bytes to
 *  V8. The limit is the one a single host allocation may take (common/host_memory.h). */
SMAE_OP(memory) {
  smae::MemoryUse m = smae::memoryUse(a.st);
  int64_t adjusted;
  napi_adjust_external_memory(a.env, m.hostBytes - a.st.reportedBytes, &adjusted);
  a.st.reportedBytes = m.hostBytes;
  napi_value arr;
  const smae::HostMemoryLimit& limit = smae::hostMemoryLimit();
  napi_create_array_with_length(a.env, 5, &arr);
  napi_set_element(a.env, arr, 0, a.retNumber(static_cast<double>(m.liveTensors)));
  napi_set_element(a.env, arr, 1, a.retNumber(static_cast<double>(m.hostBytes)));
  napi_set_element(a.env, arr, 2, a.retNumber(static_cast<double>(m.cudaBytes)));
  napi_set_element(a.env, arr, 3, a.retNumber(static_cast<double>(limit.bytes)));
  napi_set_element(a.env, arr, 4, a.retString(limit.source));
  return arr;
}

SMAE_OP(shape) {
  const at::Tensor& t = a.t(0);
  napi_value arr;
  napi_create_array_with_length(a.env, t.dim(), &arr);
  for (int64_t d = 0; d < t.dim(); d++) napi_set_element(a.env, arr, d, a.retNumber(static_cast<double>(t.size(d))));
  return arr;
}

SMAE_OP(strides) {
  const at::Tensor& t = a.t(0);
  napi_value arr;
  napi_create_array_with_length(a.env, t.dim(), &arr);
  for (int64_t d = 0; d < t.dim(); d++) napi_set_element(a.env, arr, d, a.retNumber(static_cast<double>(t.stride(d))));
  return arr;
}

SMAE_OP(storageOffset) { return a.retNumber(static_cast<double>(a.t(0).storage_offset())); }
SMAE_OP(dtype) { return a.retNumber(static_cast<double>(smae::codeFromDtype(a.t(0).scalar_type()))); }
SMAE_OP(device) { return a.retString(a.t(0).device().str()); }
SMAE_OP(numel) { return a.retNumber(static_cast<double>(a.t(0).numel())); }
SMAE_OP(isContiguous) { return a.retBool(a.t(0).is_contiguous()); }
SMAE_OP(describe) { return a.retString(smae::describe(a.t(0))); }

SMAE_OP(version) {
  return a.retString(std::to_string(SMAE_TORCH_MAJOR) + "." + std::to_string(SMAE_TORCH_MINOR) + "." + std::to_string(SMAE_TORCH_PATCH));
}

SMAE_OP(config) {
  smae::HostCacheStats c = smae::hostCacheStats();
  std::string cache = c.installed ? "host allocator cache: blocks >= " + std::to_string(c.minBytes) + " bytes, cap " + std::to_string(c.capBytes) +
                                        " bytes (" + c.source + ")\n"
                                  : "host allocator cache: " + c.source + "\n";
  return a.retString(at::show_config() + at::get_parallel_info() + cache + "malloc: " + smae::mallocTune().source + "\n");
}

/** hostCache() -> [installed, capBytes, cachedBytes, cachedBlocks, hits, misses, evictions, source, mallocTuned,
 *  mallocSource, minBlockBytes] (common/host_cache.h, common/malloc_tune.h). */
SMAE_OP(hostCache) {
  smae::HostCacheStats c = smae::hostCacheStats();
  napi_value arr;
  napi_create_array_with_length(a.env, 11, &arr);
  napi_set_element(a.env, arr, 0, a.retBool(c.installed));
  const double nums[] = {static_cast<double>(c.capBytes), static_cast<double>(c.cachedBytes), static_cast<double>(c.cachedBlocks),
                         static_cast<double>(c.hits),     static_cast<double>(c.misses),      static_cast<double>(c.evictions)};
  for (uint32_t i = 0; i < 6; i++) napi_set_element(a.env, arr, i + 1, a.retNumber(nums[i]));
  napi_set_element(a.env, arr, 7, a.retString(c.source));
  napi_set_element(a.env, arr, 8, a.retBool(smae::mallocTune().applied));
  napi_set_element(a.env, arr, 9, a.retString(smae::mallocTune().source));
  napi_set_element(a.env, arr, 10, a.retNumber(static_cast<double>(c.minBytes)));
  return arr;
}

/** setHostCacheBytes(n, minBlockBytes): the cache's cap (0: keep nothing, free what is kept) and smallest block
 *  kept; false where no cache is installed. */
SMAE_OP(setHostCacheBytes) {
  auto bytes = [&](size_t i, const char* name) {
    double n = a.d(i);
    if (!(n >= 0) || n > 9007199254740991.0 || n != static_cast<double>(static_cast<int64_t>(n))) {
      throw smae::JsError("ERR_INVALID_ARG", std::string("setHostCacheBytes: ") + name + " expected a non-negative integer byte count, got " + std::to_string(n));
    }
    return static_cast<size_t>(n);
  };
  size_t cap = bytes(0, "bytes");
  size_t minBytes = bytes(1, "minBlockBytes");
  return a.retBool(smae::setHostCacheBytes(cap, minBytes < 1 ? 1 : minBytes));
}

namespace {
/** OpenBLAS's own thread pool (Debian's libblas.so.3 is OpenBLAS): found if that library is loaded. */
void setBlasThreads(int n) {
  using Fn = void (*)(int);
  static Fn fn = [] {
    for (const char* lib : {"libopenblas.so.0", "libblas.so.3"}) {
      if (void* h = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD)) {
        if (void* f = dlsym(h, "openblas_set_num_threads")) return reinterpret_cast<Fn>(f);
      }
    }
    return static_cast<Fn>(nullptr);
  }();
  if (fn) fn(n);
}
}  // namespace

/** setNumThreads(n): LibTorch's intra-op pool and OpenBLAS's pool get the same size, so that a BLAS
 *  call does not add its own threads on top of LibTorch's (oversubscription). Exclusive: OpenBLAS's pool
 *  is process-wide and must not be resized while another thread is inside a BLAS call. */
SMAE_OP_EXCLUSIVE(setNumThreads) {
  int64_t n = a.i64(0);
  if (n < 1 || n > 4096) throw smae::JsError("ERR_INVALID_ARG", "setNumThreads: expected 1 <= n <= 4096, got " + std::to_string(n));
  at::set_num_threads(static_cast<int>(n));
  setBlasThreads(static_cast<int>(n));
  return a.undefined();
}

SMAE_OP(getNumThreads) { return a.retNumber(at::get_num_threads()); }

SMAE_OP(manualSeed) {
  uint64_t seed = static_cast<uint64_t>(a.i64(0));
  at::manual_seed(seed);
  return a.undefined();
}
