// Autograd: backward, gradients, requires-grad flags, grad mode, functional gradients.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>

#include "../common/args.h"

using smae::Args;
using smae::JsError;

/** backward(t, grad?, retainGraph, createGraph) */
SMAE_OP(backward) {
  at::Tensor& t = a.t(0);
  auto g = a.optT(1);
  if (!t.requires_grad()) throw JsError("ERR_AUTOGRAD", "backward: tensor does not require grad and has no grad_fn");
  if (!g && t.numel() != 1)
    throw JsError("ERR_AUTOGRAD", "backward: grad can be implicitly created only for scalar outputs (got " + smae::describe(t) + ")");
  bool retain = a.b(2), create = a.b(3);
  torch::autograd::backward({t}, g ? torch::autograd::variable_list{*g} : torch::autograd::variable_list{}, retain, create);
  return a.undefined();
}

/** grad(t) -> id, or null when undefined */
SMAE_OP(grad) {
  const at::Tensor& g = a.t(0).grad();
  if (!g.defined()) {
    napi_value n;
    napi_get_null(a.env, &n);
    return n;
  }
  return a.ret(g);
}

/** setGrad(t, g | null) */
SMAE_OP(setGrad) {
  at::Tensor& t = a.t(0);
  if (a.isNullish(1)) {
    t.mutable_grad() = at::Tensor();
  } else {
    const at::Tensor& g = a.t(1);
    // The checks Python's `x.grad = g` setter makes: a mismatched gradient would only fail (or broadcast
    // silently) at the next accumulation.
    if (g.sizes() != t.sizes() || g.scalar_type() != t.scalar_type() || g.device() != t.device())
      throw JsError("ERR_SHAPE_MISMATCH", "setGrad: assigned grad " + smae::describe(g) + " does not match the tensor " +
                                              smae::describe(t) + " (shape, dtype and device must agree)");
    t.mutable_grad() = g;
  }
  return a.undefined();
}

SMAE_OP(requiresGrad) { return a.retBool(a.t(0).requires_grad()); }
SMAE_OP(requiresGrad_) {
  at::Tensor& t = a.t(0);
  bool flag = a.b(1);
  if (flag && !(t.is_floating_point() || t.is_complex()))
    throw JsError("ERR_DTYPE", "only floating point and complex tensors can require gradients (got " + smae::describe(t) + ")");
  t.requires_grad_(flag);
  return a.argv[0];
}
SMAE_OP(detach) { return a.ret(a.t(0).detach()); }
SMAE_OP(detach_) { a.t(0).detach_(); return a.argv[0]; }
SMAE_OP(isLeaf) { return a.retBool(a.t(0).is_leaf()); }
SMAE_OP(retainGrad) { a.t(0).retain_grad(); return a.argv[0]; }
SMAE_OP(gradFnName) {
  const auto& fn = a.t(0).grad_fn();
  return a.retString(fn ? fn->name() : "");
}

/** setGradEnabled(flag) -> previous flag */
SMAE_OP(setGradEnabled) {
  bool prev = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(a.b(0));
  return a.retBool(prev);
}
SMAE_OP(isGradEnabled) { return a.retBool(c10::GradMode::is_enabled()); }

/** autogradGrad(outputs[], inputs[], gradOutputs[] | null, retainGraph, createGraph, allowUnused)
 *  -> (id | null)[] like torch.autograd.grad */
SMAE_OP(autogradGrad) {
  auto outs = a.tensors(0);
  auto ins = a.tensors(1);
  torch::autograd::variable_list gos;
  if (!a.isNullish(2)) gos = a.tensors(2);
  bool create = a.b(4);
  bool retain = a.isNullish(3) ? create : a.b(3);
  auto res = torch::autograd::grad(outs, ins, gos, retain, create, a.b(5));
  napi_value arr;
  napi_create_array_with_length(a.env, res.size(), &arr);
  for (size_t k = 0; k < res.size(); k++) {
    napi_value v;
    if (res[k].defined()) v = a.ret(res[k]);
    else napi_get_null(a.env, &v);
    napi_set_element(a.env, arr, k, v);
  }
  return arr;
}

/** setData_(x, src): x's handle now refers to src's data (Tensor.data = src); keeps x's identity. */
SMAE_OP(setData_) {
  at::Tensor& x = a.t(0);
  at::Tensor src = a.t(1);
  x.set_data(src);
  return a.argv[0];
}
