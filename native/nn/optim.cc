// Optimizer updates run natively per parameter, with torch.optim's exact formulas and order of
// operations (torch/optim/adam.py `_single_tensor_adam`, adamw.py), or LibTorch's fused kernels.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>

#include "../common/args.h"

using smae::Args;
using smae::JsError;

namespace {
/** A view of `buf` shaped like `t` (same dtype and device), growing `buf` when it is too small. Scratch
 *  space reused by every parameter of one adamStep call: the temporaries of the update (decayed gradient,
 *  denominator) then cost no allocation per parameter, hence no fresh pages to fault in per step. */
at::Tensor scratchLike(at::Tensor& buf, const at::Tensor& t) {
  const int64_t n = t.numel();
  if (!buf.defined() || buf.numel() < n || buf.scalar_type() != t.scalar_type() || buf.device() != t.device())
    buf = at::empty({n}, t.options().memory_format(at::MemoryFormat::Contiguous));
  return buf.narrow(0, 0, n).view(t.sizes());
}
}  // namespace

/** adamStep(params[], grads[], expAvgs[], expAvgSqs[], maxExpAvgSqs[] | null, steps[], lr, beta1, beta2,
 *           eps, weightDecay, amsgrad, maximize, decoupled)
 *  Every list has one entry per parameter that has a gradient; steps are the step counts AFTER this
 *  update. Updates params and states in place, under no-grad. Each elementwise operation is torch's
 *  (same kernels, same order, so the same bits); temporaries live in two scratch buffers sized for the
 *  largest parameter instead of being allocated per parameter. */
SMAE_OP(adamStep) {
  auto params = a.tensors(0), grads = a.tensors(1), m = a.tensors(2), v = a.tensors(3);
  std::vector<at::Tensor> vmax;
  bool amsgrad = a.b(11), maximize = a.b(12), decoupled = a.b(13);
  if (amsgrad) vmax = a.tensors(4);
  std::vector<double> steps = a.doubles(5);
  double lr = a.d(6), b1 = a.d(7), b2 = a.d(8), eps = a.d(9), wd = a.d(10);
  size_t n = params.size();
  if (grads.size() != n || m.size() != n || v.size() != n || steps.size() != n || (amsgrad && vmax.size() != n))
    throw JsError("ERR_INVALID_ARG", "adamStep: parameter, gradient, state and step lists differ in length");
  c10::NoGradGuard noGrad;
  at::Tensor gbuf, dbuf;
  for (size_t i = 0; i < n; i++) {
    at::Tensor& p = params[i];
    at::Tensor g = grads[i];
    if (maximize) {
      at::Tensor s = scratchLike(gbuf, g);
      at::neg_out(s, g);
      g = s;
    }
    if (decoupled) {
      p.mul_(1 - lr * wd);
    } else if (wd != 0) {
      at::Tensor s = scratchLike(gbuf, p);
      at::add_out(s, g, p, wd);  // grad.add(param, alpha=weight_decay)
      g = s;
    }
#if SMAE_TORCH_MAJOR >= 2
    m[i].lerp_(g, 1 - b1);  // torch 2.x: exp_avg.lerp_(grad, 1 - beta1)
#else
    m[i].mul_(b1).add_(g, 1 - b1);
#endif
    v[i].mul_(b2).addcmul_(g, g, 1 - b2);
    double step = steps[i];
    double bc1 = 1 - std::pow(b1, step), bc2 = 1 - std::pow(b2, step);
    double stepSize = lr / bc1;
    double bc2Sqrt = std::sqrt(bc2);
    at::Tensor denom = scratchLike(dbuf, v[i]);
    if (amsgrad) {
      at::maximum_out(vmax[i], vmax[i], v[i]);
      at::sqrt_out(denom, vmax[i]);
    } else {
      at::sqrt_out(denom, v[i]);
    }
    denom.div_(bc2Sqrt).add_(eps);  // (sqrt(v) / bias_correction2_sqrt).add_(eps)
    p.addcdiv_(m[i], denom, -stepSize);
  }
  return a.undefined();
}

/** fusedAdamStep(...same lists..., stepTensors[], lr, beta1, beta2, eps, weightDecay, amsgrad, maximize,
 *  decoupled): LibTorch's fused multi-tensor kernel (2.x; CUDA, and CPU from 2.4). stepTensors are
 *  float32 scalars on the parameters' device holding the step count AFTER this update: the kernel reads
 *  them (PyTorch increments them before the call), so one tensor may serve several parameters. */
SMAE_OP(fusedAdamStep) {
#if SMAE_TORCH_MAJOR >= 2
  auto params = a.tensors(0), grads = a.tensors(1), m = a.tensors(2), v = a.tensors(3);
  bool amsgrad = a.b(11), maximize = a.b(12), decoupled = a.b(13);
  std::vector<at::Tensor> vmax;
  if (amsgrad) vmax = a.tensors(4);
  auto steps = a.tensors(5);
  double lr = a.d(6), b1 = a.d(7), b2 = a.d(8), eps = a.d(9), wd = a.d(10);
  c10::NoGradGuard noGrad;
  if (decoupled)
    at::_fused_adamw_(params, grads, m, v, vmax, steps, lr, b1, b2, wd, eps, amsgrad, maximize);
  else
    at::_fused_adam_(params, grads, m, v, vmax, steps, lr, b1, b2, wd, eps, amsgrad, maximize);
  return a.undefined();
#else
  throw JsError("ERR_UNSUPPORTED", "fusedAdamStep needs LibTorch >= 2.0 (linked: 1.x); use the per-parameter step");
#endif
}

/** gradNorm(grads[], normType) -> 0-d tensor: the norm of all gradients together (clip_grad_norm_). */
SMAE_OP(totalNorm) {
  auto gs = a.tensors(0);
  double p = a.d(1);
  if (gs.empty()) return a.ret(at::zeros({}, at::kFloat));
  std::vector<at::Tensor> norms;
  norms.reserve(gs.size());
  c10::NoGradGuard noGrad;
  for (auto& g : gs) norms.push_back(at::linalg_vector_norm(g, p));
  if (std::isinf(p)) return a.ret(at::stack(norms).max());
  return a.ret(at::linalg_vector_norm(at::stack(norms), p));
}

/** scaleGrads_(grads[], factor 0-d tensor): g *= factor for each, in place, no host sync. */
SMAE_OP(scaleAll_) {
  auto gs = a.tensors(0);
  at::Tensor& f = a.t(1);
  c10::NoGradGuard noGrad;
  for (auto& g : gs) g.mul_(f.to(g.device()));
  return a.undefined();
}
