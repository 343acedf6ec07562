// Elementwise math: unary, binary (tensor and scalar right operands), comparisons, in-place updates.
#include <ATen/ATen.h>

#include "../common/args.h"

using smae::Args;

#define UNARY(name, fn) \
  SMAE_OP(name) { return a.ret(fn(a.t(0))); }
UNARY(neg, at::neg)
UNARY(abs, at::abs)
UNARY(sqrt, at::sqrt)
UNARY(rsqrt, at::rsqrt)
UNARY(exp, at::exp)
UNARY(expm1, at::expm1)
UNARY(log, at::log)
UNARY(log10, at::log10)
UNARY(log2, at::log2)
UNARY(log1p, at::log1p)
UNARY(sin, at::sin)
UNARY(cos, at::cos)
UNARY(tan, at::tan)
UNARY(asin, at::asin)
UNARY(acos, at::acos)
UNARY(atan, at::atan)
UNARY(sinh, at::sinh)
UNARY(cosh, at::cosh)
UNARY(tanh, at::tanh)
UNARY(sigmoid, at::sigmoid)
UNARY(erf, at::erf)
UNARY(erfinv, at::erfinv)
UNARY(floor, at::floor)
UNARY(ceil, at::ceil)
UNARY(round, at::round)
UNARY(trunc, at::trunc)
UNARY(frac, at::frac)
UNARY(sign, at::sign)
UNARY(reciprocal, at::reciprocal)
UNARY(square, at::square)
UNARY(relu, at::relu)
UNARY(silu, at::silu)
UNARY(isnan, at::isnan)
UNARY(isinf, at::isinf)
UNARY(isfinite, at::isfinite)
UNARY(logicalNot, at::logical_not)
UNARY(bitwiseNot, at::bitwise_not)
UNARY(clone, at::clone)
#undef UNARY

/** name(x, y) with a tensor y, nameS(x, s) with a scalar s. */
#define BINARY(name, fn)                                          \
  SMAE_OP(name) { return a.ret(fn(a.t(0), a.t(1))); }             \
  SMAE_OP(name##S) { return a.ret(fn(a.t(0), a.scalar(1))); }
BINARY(mul, at::mul)
BINARY(pow, at::pow)
BINARY(remainder, at::remainder)
BINARY(fmod, at::fmod)
BINARY(eq, at::eq)
BINARY(ne, at::ne)
BINARY(lt, at::lt)
BINARY(le, at::le)
BINARY(gt, at::gt)
BINARY(ge, at::ge)
#undef BINARY

#define BINARY_T(name, fn) \
  SMAE_OP(name) { return a.ret(fn(a.t(0), a.t(1))); }
BINARY_T(maximum, at::maximum)
BINARY_T(minimum, at::minimum)
BINARY_T(atan2, at::atan2)
BINARY_T(logicalAnd, at::logical_and)
BINARY_T(logicalOr, at::logical_or)
BINARY_T(logicalXor, at::logical_xor)
#undef BINARY_T

/** add(x, y, alpha) / addS(x, s, alpha); sub likewise. */
SMAE_OP(add) { return a.ret(at::add(a.t(0), a.t(1), a.scalar(2))); }
SMAE_OP(addS) { return a.ret(at::add(a.t(0), a.scalar(1), a.scalar(2))); }
SMAE_OP(sub) { return a.ret(at::sub(a.t(0), a.t(1), a.scalar(2))); }
SMAE_OP(subS) { return a.ret(at::sub(a.t(0), a.scalar(1), a.scalar(2))); }
/** rsubS(x, s): s - x */
SMAE_OP(rsubS) { return a.ret(at::rsub(a.t(0), a.scalar(1))); }
/** rpowS(x, s): s ** x */
SMAE_OP(rpowS) { return a.ret(at::pow(a.scalar(1), a.t(0))); }
/** div(x, y, roundingMode?) with roundingMode 'trunc' | 'floor' | undefined (true division). */
SMAE_OP(div) {
  if (a.isNullish(2)) return a.ret(at::div(a.t(0), a.t(1)));
  return a.ret(at::div(a.t(0), a.t(1), a.s(2)));
}
SMAE_OP(divS) {
  if (a.isNullish(2)) return a.ret(at::div(a.t(0), a.scalar(1)));
  return a.ret(at::div(a.t(0), a.scalar(1), a.s(2)));
}

/** clamp(x, min?, max?) with scalars; clampT(x, minT?, maxT?) with tensors. */
SMAE_OP(clamp) {
  c10::optional<at::Scalar> lo, hi;
  if (!a.isNullish(1)) lo = a.scalar(1);
  if (!a.isNullish(2)) hi = a.scalar(2);
  if (!lo && !hi) throw smae::JsError("ERR_INVALID_ARG", "clamp: at least one of min and max is required");
  return a.ret(at::clamp(a.t(0), lo, hi));
}
SMAE_OP(clampT) {
  c10::optional<at::Tensor> lo, hi;
  if (!a.isNullish(1)) lo = a.t(1);
  if (!a.isNullish(2)) hi = a.t(2);
  if (!lo && !hi) throw smae::JsError("ERR_INVALID_ARG", "clamp: at least one of min and max is required");
  return a.ret(at::clamp(a.t(0), lo, hi));
}
SMAE_OP(where) { return a.ret(at::where(a.t(0), a.t(1), a.t(2))); }
/** nanToNum(x, nan, posinf?, neginf?) */
SMAE_OP(nanToNum) { return a.ret(at::nan_to_num(a.t(0), a.d(1), a.optD(2), a.optD(3))); }
SMAE_OP(lerp) { return a.ret(at::lerp(a.t(0), a.t(1), a.scalar(2))); }
/** addcmul(x, t1, t2, value) = x + value*t1*t2 */
SMAE_OP(addcmul) { return a.ret(at::addcmul(a.t(0), a.t(1), a.t(2), a.scalar(3))); }
SMAE_OP(addcdiv) { return a.ret(at::addcdiv(a.t(0), a.t(1), a.t(2), a.scalar(3))); }

/** Conversions: to(x, dtype, copy), toDevice(x, device, nonBlocking, copy). */
SMAE_OP(toDtype) { return a.ret(a.t(0).to(a.dtype(1), false, a.b(2))); }
SMAE_OP(toDevice) { return a.ret(a.t(0).to(a.device(1), a.b(2), a.b(3))); }
SMAE_OP(pinMemory) { return a.ret(a.t(0).pin_memory()); }
SMAE_OP(contiguous) { return a.ret(a.t(0).contiguous()); }

// In-place updates return their first argument (the same id).
SMAE_OP(add_) { a.t(0).add_(a.t(1), a.scalar(2)); return a.argv[0]; }
SMAE_OP(addS_) { a.t(0).add_(a.scalar(1), a.scalar(2)); return a.argv[0]; }
SMAE_OP(sub_) { a.t(0).sub_(a.t(1), a.scalar(2)); return a.argv[0]; }
SMAE_OP(mul_) { a.t(0).mul_(a.t(1)); return a.argv[0]; }
SMAE_OP(mulS_) { a.t(0).mul_(a.scalar(1)); return a.argv[0]; }
SMAE_OP(div_) { a.t(0).div_(a.t(1)); return a.argv[0]; }
SMAE_OP(divS_) { a.t(0).div_(a.scalar(1)); return a.argv[0]; }
SMAE_OP(copy_) { a.t(0).copy_(a.t(1), a.b(2)); return a.argv[0]; }
SMAE_OP(fill_) { a.t(0).fill_(a.scalar(1)); return a.argv[0]; }
SMAE_OP(zero_) { a.t(0).zero_(); return a.argv[0]; }
SMAE_OP(clamp_) {
  c10::optional<at::Scalar> lo, hi;
  if (!a.isNullish(1)) lo = a.scalar(1);
  if (!a.isNullish(2)) hi = a.scalar(2);
  a.t(0).clamp_(lo, hi);
  return a.argv[0];
}
SMAE_OP(addcmul_) { a.t(0).addcmul_(a.t(1), a.t(2), a.scalar(3)); return a.argv[0]; }
SMAE_OP(addcdiv_) { a.t(0).addcdiv_(a.t(1), a.t(2), a.scalar(3)); return a.argv[0]; }
SMAE_OP(lerp_) { a.t(0).lerp_(a.t(1), a.scalar(2)); return a.argv[0]; }
SMAE_OP(sqrt_) { a.t(0).sqrt_(); return a.argv[0]; }
SMAE_OP(erfinv_) { a.t(0).erfinv_(); return a.argv[0]; }
SMAE_OP(maskedFill_) { a.t(0).masked_fill_(a.t(1), a.scalar(2)); return a.argv[0]; }
