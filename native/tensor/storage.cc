// Host memory views and storage identity, for checkpoint I/O: read file bytes straight into a tensor,
// and tell which tensors share a storage.
#include <ATen/ATen.h>

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
