// Host memory views and storage identity, for checkpoint I/O: read file bytes straight into a tensor,
// and tell which tensors share a storage.
#include <ATen/ATen.h>

#include <cstdint>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "../common/args.h"

using smae::Args;
using smae::JsError;

namespace {
void releaseTensor(napi_env, void*, void* hint) { delete static_cast<at::Tensor*>(hint); }
}  // namespace

/** hostView(t) -> ArrayBuffer aliasing a contiguous CPU tensor's bytes. The buffer holds its own
 *  reference to the storage, so it stays valid after the tensor is disposed. */
SMAE_OP(hostView) {
  at::Tensor& t = a.t(0);
  if (!t.is_cpu() || !t.is_contiguous())
    throw JsError("ERR_INVALID_ARG", "hostView needs a contiguous CPU tensor, got " + smae::describe(t));
  size_t n = t.numel() * t.element_size();
  napi_value ab;
  if (n == 0) {
    void* unused;
    napi_create_arraybuffer(a.env, 0, &unused, &ab);
    return ab;
  }
  auto* owner = new at::Tensor(t);
  napi_status st = napi_create_external_arraybuffer(a.env, owner->data_ptr(), n, releaseTensor, owner, &ab);
  if (st != napi_ok) {
    delete owner;
    throw JsError("ERR_UNSUPPORTED", "hostView: external ArrayBuffers are not allowed in this runtime");
  }
  return ab;
}

/** adviseHugePages(t) -> bool: asks the kernel to back the whole 2 MiB pages inside a contiguous CPU
 *  tensor's memory with transparent huge pages (madvise MADV_HUGEPAGE), so that filling fresh memory
 *  (a checkpoint read) takes one page fault per 2 MiB instead of per 4 KiB. Only a hint, and only
 *  useful before the memory is first written; false where nothing was advised (not Linux, no whole
 *  2 MiB page inside, or the kernel declined). Contents are unchanged either way. */
SMAE_OP(adviseHugePages) {
  at::Tensor& t = a.t(0);
  if (!t.is_cpu() || !t.is_contiguous())
    throw JsError("ERR_INVALID_ARG", "adviseHugePages needs a contiguous CPU tensor, got " + smae::describe(t));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  auto begin = reinterpret_cast<uintptr_t>(t.data_ptr());
  uintptr_t end = begin + t.numel() * t.element_size();
  uintptr_t lo = (begin + kHuge - 1) & ~(kHuge - 1);
  uintptr_t hi = end & ~(kHuge - 1);
  if (hi > lo) return a.retBool(madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE) == 0);
#endif
  return a.retBool(false);
}

/** storageInfo(t) -> [storage id, storage bytes, element offset]: equal ids mean a shared storage. */
SMAE_OP(storageInfo) {
  at::Tensor& t = a.t(0);
  napi_value arr;
  napi_create_array_with_length(a.env, 3, &arr);
  double key = t.has_storage() ? static_cast<double>(reinterpret_cast<uintptr_t>(t.storage().unsafeGetStorageImpl())) : 0;
  double bytes = t.has_storage() ? static_cast<double>(t.storage().nbytes()) : 0;
  napi_set_element(a.env, arr, 0, a.retNumber(key));
  napi_set_element(a.env, arr, 1, a.retNumber(bytes));
  napi_set_element(a.env, arr, 2, a.retNumber(static_cast<double>(t.storage_offset())));
  return arr;
}
