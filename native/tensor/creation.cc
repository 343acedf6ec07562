// Tensor creation, random sampling and host I/O (copies between JS buffers and tensors).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <cstring>

#include "../common/args.h"
#include "../common/host_memory.h"

using smae::Args;
using smae::JsError;

namespace {

/** Rejects negative sizes and allocations larger than the host memory limit (physical memory or the cgroup's
 *  limit, common/host_memory.h): overcommit would grant them and the kernel kill the process later. */
void checkAlloc(const std::vector<int64_t>& shape, at::ScalarType dt, const at::Device& dev) {
  double bytes = static_cast<double>(c10::elementSize(dt));
  for (size_t i = 0; i < shape.size(); i++) {
    if (shape[i] < 0) throw JsError("ERR_INVALID_ARG", "shape[" + std::to_string(i) + "] is negative (" + std::to_string(shape[i]) + ")");
    bytes *= static_cast<double>(shape[i]);
  }
  if (dev.is_cpu()) {
    const smae::HostMemoryLimit& limit = smae::hostMemoryLimit();
    if (bytes > static_cast<double>(limit.bytes))
      throw JsError("ERR_OOM", "allocation of " + std::to_string(bytes / 1073741824.0) + " GiB exceeds the memory limit of " +
                                   std::to_string(limit.bytes / 1073741824.0) + " GiB (" + limit.source + ")");
  }
}

at::TensorOptions opts(Args& a, size_t dtypeArg, size_t deviceArg) {
  return at::TensorOptions().dtype(a.dtype(dtypeArg)).device(a.device(deviceArg));
}

at::TensorOptions checked(Args& a, size_t shapeArg, size_t dtypeArg, size_t deviceArg) {
  at::TensorOptions o = opts(a, dtypeArg, deviceArg);
  checkAlloc(a.ints(shapeArg), a.dtype(dtypeArg), a.device(deviceArg));
  return o;
}

/** Reads a TypedArray or ArrayBuffer argument: data pointer and byte length. */
void bufferArg(Args& a, size_t i, void*& data, size_t& len) {
  bool isAb = false, isBuf = false;
  if (smae::TypedView v = smae::typedView(a.env, a.argv[i]); v.ok) {
    data = v.data;
    len = v.bytes();
    return;
  }
  napi_is_arraybuffer(a.env, a.argv[i], &isAb);
  napi_is_buffer(a.env, a.argv[i], &isBuf);
  if (isAb) {
    napi_get_arraybuffer_info(a.env, a.argv[i], &data, &len);
  } else if (isBuf) {  // any other ArrayBufferView (a DataView): napi_is_buffer says true for those too
    napi_get_buffer_info(a.env, a.argv[i], &data, &len);
  } else {
    a.fail(i, "a TypedArray, Buffer or ArrayBuffer");
  }
}

}  // namespace

SMAE_OP(empty) { return a.ret(at::empty(a.ints(0), checked(a, 0, 1, 2))); }
SMAE_OP(zeros) { return a.ret(at::zeros(a.ints(0), checked(a, 0, 1, 2))); }
SMAE_OP(ones) { return a.ret(at::ones(a.ints(0), checked(a, 0, 1, 2))); }
SMAE_OP(full) { return a.ret(at::full(a.ints(0), a.scalar(1), checked(a, 0, 2, 3))); }
SMAE_OP(randn) { return a.ret(at::randn(a.ints(0), checked(a, 0, 1, 2))); }
SMAE_OP(rand) { return a.ret(at::rand(a.ints(0), checked(a, 0, 1, 2))); }
/** randint(low, high, shape, dtype, device) */
SMAE_OP(randint) { return a.ret(at::randint(a.i64(0), a.i64(1), a.ints(2), checked(a, 2, 3, 4))); }
SMAE_OP(randperm) {
  checkAlloc({a.i64(0)}, a.dtype(1), a.device(2));
  return a.ret(at::randperm(a.i64(0), opts(a, 1, 2)));
}
/** randpermSeeded(n, seed): int64 CPU permutation drawn from a fresh generator seeded with `seed` (Python's
 *  `torch.randperm(n, generator=torch.Generator().manual_seed(seed))`, same order); the global generator is
 *  untouched. */
SMAE_OP(randpermSeeded) {
  int64_t n = a.i64(0), seed = a.i64(1);
  checkAlloc({n}, at::kLong, at::kCPU);
  if (seed < 0) throw JsError("ERR_INVALID_ARG", "randpermSeeded: seed must be >= 0, got " + std::to_string(seed));
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));
  return a.ret(at::randperm(n, g, at::TensorOptions().dtype(at::kLong)));
}
/** arange(start, end, step, dtype, device) */
SMAE_OP(arange) {
  double start = a.d(0), end = a.d(1), step = a.d(2);
  if (step == 0 || !std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
    throw JsError("ERR_INVALID_ARG", "arange: start/end/step must be finite and step non-zero");
  double n = std::ceil((end - start) / step);
  if (n > 0) checkAlloc({static_cast<int64_t>(n)}, a.dtype(3), a.device(4));
  return a.ret(at::arange(a.scalar(0), a.scalar(1), a.scalar(2), opts(a, 3, 4)));
}
/** linspace(start, end, steps, dtype, device) */
SMAE_OP(linspace) {
  checkAlloc({a.i64(2)}, a.dtype(3), a.device(4));
  return a.ret(at::linspace(a.scalar(0), a.scalar(1), a.i64(2), opts(a, 3, 4)));
}
/** eye(n, m, dtype, device) */
SMAE_OP(eye) {
  checkAlloc({a.i64(0), a.i64(1)}, a.dtype(2), a.device(3));
  return a.ret(at::eye(a.i64(0), a.i64(1), opts(a, 2, 3)));
}
SMAE_OP(scalarTensor) { return a.ret(at::scalar_tensor(a.scalar(0), opts(a, 1, 2))); }

/** xxxLike(t, dtype?) */
SMAE_OP(zerosLike) { at::Tensor& t = a.t(0); return a.ret(at::zeros_like(t, t.options().dtype(a.optDtype(1).value_or(t.scalar_type())))); }
SMAE_OP(onesLike) { at::Tensor& t = a.t(0); return a.ret(at::ones_like(t, t.options().dtype(a.optDtype(1).value_or(t.scalar_type())))); }
SMAE_OP(emptyLike) { at::Tensor& t = a.t(0); return a.ret(at::empty_like(t, t.options().dtype(a.optDtype(1).value_or(t.scalar_type())))); }
SMAE_OP(randnLike) { at::Tensor& t = a.t(0); return a.ret(at::randn_like(t, t.options().dtype(a.optDtype(1).value_or(t.scalar_type())))); }
SMAE_OP(randLike) { at::Tensor& t = a.t(0); return a.ret(at::rand_like(t, t.options().dtype(a.optDtype(1).value_or(t.scalar_type())))); }
SMAE_OP(fullLike) { at::Tensor& t = a.t(0); return a.ret(at::full_like(t, a.scalar(1), t.options().dtype(a.optDtype(2).value_or(t.scalar_type())))); }

/** In-place samplers: normal_(t, mean, std), uniform_(t, from, to), bernoulli(t, p) */
SMAE_OP(normal_) { a.t(0).normal_(a.d(1), a.d(2)); return a.argv[0]; }
SMAE_OP(uniform_) { a.t(0).uniform_(a.d(1), a.d(2)); return a.argv[0]; }
SMAE_OP(bernoulli) { return a.ret(at::bernoulli(a.t(0), a.d(1))); }
SMAE_OP(multinomial) { return a.ret(at::multinomial(a.t(0), a.i64(1), a.b(2))); }

/** fromBuffer(buffer, dtype, shape, device): copies the bytes (little-endian, C order). */
SMAE_OP(fromBuffer) {
  void* data;
  size_t len;
  bufferArg(a, 0, data, len);
  at::ScalarType dt = a.dtype(1);
  std::vector<int64_t> shape = a.ints(2);
  at::Device dev = a.device(3);
  checkAlloc(shape, dt, at::kCPU);
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  size_t need = static_cast<size_t>(numel) * c10::elementSize(dt);
  if (need != len)
    throw JsError("ERR_SHAPE_MISMATCH", "buffer has " + std::to_string(len) + " bytes, shape needs " + std::to_string(need));
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dt));
  if (need) std::memcpy(t.data_ptr(), data, need);
  return a.ret(dev.is_cpu() ? t : t.to(dev));
}

/** toBuffer(t) -> ArrayBuffer holding the tensor's elements, contiguous, on the host. */
SMAE_OP(toBuffer) {
  at::Tensor t = a.t(0).detach();
  if (!t.is_cpu()) t = t.cpu();
  t = t.contiguous();
  size_t n = t.numel() * t.element_size();
  void* out;
  napi_value ab;
  napi_create_arraybuffer(a.env, n, &out, &ab);
  if (n) std::memcpy(out, t.data_ptr(), n);
  return ab;
}

/** copyFromBuffer_(t, buffer): overwrites a contiguous host tensor's elements (used by loaders). */
SMAE_OP(copyFromBuffer_) {
  at::Tensor& t = a.t(0);
  void* data;
  size_t len;
  bufferArg(a, 1, data, len);
  size_t need = t.numel() * t.element_size();
  if (need != len) throw JsError("ERR_SHAPE_MISMATCH", "buffer has " + std::to_string(len) + " bytes, tensor needs " + std::to_string(need));
  if (t.is_cpu() && t.is_contiguous() && !t.requires_grad()) {  // one copy, straight in (loader batches)
    if (need) std::memcpy(t.data_ptr(), data, need);
    t.unsafeGetTensorImpl()->bump_version();
    return a.argv[0];
  }
  at::Tensor host = at::empty(t.sizes(), t.options().device(at::kCPU));
  if (need) std::memcpy(host.data_ptr(), data, need);
  {
    c10::NoGradGuard g;
    t.copy_(host);
  }
  return a.argv[0];
}

SMAE_OP(item) {
  at::Tensor& t = a.t(0);
  if (t.numel() != 1) throw JsError("ERR_SHAPE_MISMATCH", "item() needs exactly one element, got " + std::to_string(t.numel()));
  return a.retNumber(t.item<double>());
}
