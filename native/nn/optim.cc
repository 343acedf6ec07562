// Optimizer updates run natively per parameter, with torch.optim's exact formulas and order of
// operations (torch/optim/adam.py `_single_tensor_adam`, adamw.py), or LibTorch's fused kernels.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>

#include "../common/args.h"

using smae::Args;
using smae::JsError;

/** adamStep(params[], grads[], expAvgs[], expAvgSqs[], maxExpAvgSqs[] | null, steps[], lr, beta1, beta2,
 *           eps, weightDecay, amsgrad, maximize, decoupled)
 *  Every list has one entry per parameter that has a gradient; steps are the step counts AFTER this
 *  update. Updates params and states in place, under no-grad. */
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
  for (size_t i = 0; i < n; i++) {
    at::Tensor& p = params[i];
    at::Tensor g = maximize ? grads[i].neg() : grads[i];
    if (decoupled) p.mul_(1 - lr * wd);
    else if (wd != 0) g = g.add(p, wd);
    m[i].mul_(b1).add_(g, 1 - b1);
    v[i].mul_(b2).addcmul_(g, g, 1 - b2);
    double step = steps[i];
    double bc1 = 1 - std::pow(b1, step), bc2 = 1 - std::pow(b2, step);
    double stepSize = lr / bc1;
    double bc2Sqrt = std::sqrt(bc2);
    at::Tensor denom;
    if (amsgrad) {
      at::maximum_out(vmax[i], vmax[i], v[i]);
      denom = (vmax[i].sqrt() / bc2Sqrt).add_(eps);
    } else {
      denom = (v[i].sqrt() / bc2Sqrt).add_(eps);
    }
    p.addcdiv_(m[i], denom, -stepSize);
  }
  return a.undefined();
}

/** fusedAdamStep(...same lists..., stepTensors[], lr, beta1, beta2, eps, weightDecay, amsgrad, maximize,
 *  decoupled): LibTorch's fused multi-tensor kernel (2.x; CUDA, and CPU from 2.4). stepTensors are
 *  float32 scalars the kernel increments. */
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
