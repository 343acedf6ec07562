// Reductions. `dims` arguments are arrays (empty or null = all dimensions, as torch.sum(x)).
#include <ATen/ATen.h>

#include "../common/args.h"

using smae::Args;

namespace {
std::vector<int64_t> dimsOrAll(Args& a, size_t i) {
  if (a.isNullish(i)) return {};
  return a.ints(i);
}
}  // namespace

/** sum(x, dims?, keepdim, dtype?) */
SMAE_OP(sum) {
  at::Tensor& x = a.t(0);
  auto dims = dimsOrAll(a, 1);
  auto dt = a.optDtype(3);
  if (dims.empty()) return a.ret(a.b(2) ? at::sum(x, at::IntArrayRef(), true, dt) : at::sum(x, dt));
  return a.ret(at::sum(x, dims, a.b(2), dt));
}
SMAE_OP(mean) {
  at::Tensor& x = a.t(0);
  auto dims = dimsOrAll(a, 1);
  auto dt = a.optDtype(3);
  if (dims.empty() && !a.b(2)) return a.ret(at::mean(x, dt));
  if (dims.empty()) for (int64_t d = 0; d < x.dim(); d++) dims.push_back(d);
  return a.ret(at::mean(x, dims, a.b(2), dt));
}
/** prod(x, dim?, keepdim) */
SMAE_OP(prod) {
  at::Tensor& x = a.t(0);
  if (a.isNullish(1)) return a.ret(at::prod(x));
  return a.ret(at::prod(x, a.i64(1), a.b(2)));
}
/** var(x, dims?, unbiased, keepdim) / std */
SMAE_OP(var) {
  at::Tensor& x = a.t(0);
  auto dims = dimsOrAll(a, 1);
  if (dims.empty()) for (int64_t d = 0; d < x.dim(); d++) dims.push_back(d);
  return a.ret(at::var(x, dims, a.b(2), a.b(3)));
}
SMAE_OP(std) {
  at::Tensor& x = a.t(0);
  auto dims = dimsOrAll(a, 1);
  if (dims.empty()) for (int64_t d = 0; d < x.dim(); d++) dims.push_back(d);
  return a.ret(at::std(x, dims, a.b(2), a.b(3)));
}
/** max(x) / maxDim(x, dim, keepdim) -> [values, indices]; min likewise. */
SMAE_OP(max) { return a.ret(at::max(a.t(0))); }
SMAE_OP(min) { return a.ret(at::min(a.t(0))); }
SMAE_OP(maxDim) {
  auto r = at::max(a.t(0), a.i64(1), a.b(2));
  return a.ret(std::vector<at::Tensor>{std::get<0>(r), std::get<1>(r)});
}
SMAE_OP(minDim) {
  auto r = at::min(a.t(0), a.i64(1), a.b(2));
  return a.ret(std::vector<at::Tensor>{std::get<0>(r), std::get<1>(r)});
}
SMAE_OP(amax) { return a.ret(at::amax(a.t(0), dimsOrAll(a, 1), a.b(2))); }
SMAE_OP(amin) { return a.ret(at::amin(a.t(0), dimsOrAll(a, 1), a.b(2))); }
/** argmax(x, dim?, keepdim) */
SMAE_OP(argmax) { return a.ret(at::argmax(a.t(0), a.optI64(1), a.b(2))); }
SMAE_OP(argmin) { return a.ret(at::argmin(a.t(0), a.optI64(1), a.b(2))); }
/** norm(x, ord, dims?, keepdim): vector norm (torch.linalg.vector_norm). */
SMAE_OP(norm) {
  auto dims = dimsOrAll(a, 2);
  if (dims.empty()) return a.ret(at::linalg_vector_norm(a.t(0), a.scalar(1), c10::nullopt, a.b(3)));
  return a.ret(at::linalg_vector_norm(a.t(0), a.scalar(1), at::IntArrayRef(dims), a.b(3)));
}
SMAE_OP(logsumexp) {
  at::Tensor& x = a.t(0);
  auto dims = dimsOrAll(a, 1);
  if (dims.empty()) for (int64_t d = 0; d < x.dim(); d++) dims.push_back(d);
  return a.ret(at::logsumexp(x, dims, a.b(2)));
}
/** cumsum(x, dim, dtype?) / cumprod */
SMAE_OP(cumsum) { return a.ret(at::cumsum(a.t(0), a.i64(1), a.optDtype(2))); }
SMAE_OP(cumprod) { return a.ret(at::cumprod(a.t(0), a.i64(1), a.optDtype(2))); }
/** all(x, dim?, keepdim) / any */
SMAE_OP(all) {
  if (a.isNullish(1)) return a.ret(at::all(a.t(0)));
  return a.ret(at::all(a.t(0), a.i64(1), a.b(2)));
}
SMAE_OP(any) {
  if (a.isNullish(1)) return a.ret(at::any(a.t(0)));
  return a.ret(at::any(a.t(0), a.i64(1), a.b(2)));
}
SMAE_OP(countNonzero) { return a.ret(at::count_nonzero(a.t(0), a.optI64(1))); }
SMAE_OP(allclose) { return a.retBool(at::allclose(a.t(0), a.t(1), a.d(2), a.d(3), a.b(4))); }
SMAE_OP(equal) { return a.retBool(at::equal(a.t(0), a.t(1))); }
