// Linear algebra and nn.functional: linear, layer norm, convolution, activations, attention,
// interpolation, losses.
#include <ATen/ATen.h>

#include "../common/args.h"

using smae::Args;
using smae::JsError;

SMAE_OP(matmul) { return a.ret(at::matmul(a.t(0), a.t(1))); }
SMAE_OP(mm) { return a.ret(at::mm(a.t(0), a.t(1))); }
SMAE_OP(bmm) { return a.ret(at::bmm(a.t(0), a.t(1))); }
SMAE_OP(outer) { return a.ret(at::outer(a.t(0), a.t(1))); }
/** einsum(equation, tensors[]) */
SMAE_OP(einsum) { return a.ret(at::einsum(a.s(0), a.tensors(1))); }
/** linear(x [*, in], weight [out, in], bias? [out]) -> [*, out] */
SMAE_OP(linear) { return a.ret(at::linear(a.t(0), a.t(1), a.optT(2))); }
/** layerNorm(x, normalizedShape, weight?, bias?, eps) */
SMAE_OP(layerNorm) { return a.ret(at::layer_norm(a.t(0), a.ints(1), a.optT(2), a.optT(3), a.d(4))); }
/** conv(x, weight, bias?, stride[], padding[], dilation[], transposed, outputPadding[], groups):
 *  x [N, C, *spatial], weight [O, C/groups, *kernel] (transposed: [C, O/groups, *kernel]). */
SMAE_OP(conv) {
  at::Tensor& x = a.t(0);
  at::Tensor& w = a.t(1);
  int64_t spatial = w.dim() - 2;
  if (spatial < 1 || x.dim() != w.dim())
    throw JsError("ERR_SHAPE_MISMATCH", "conv: input of rank " + std::to_string(x.dim()) + " and weight of rank " +
                                            std::to_string(w.dim()) + " (expected [N, C, *spatial] and [O, C, *kernel])");
  return a.ret(at::convolution(x, w, a.optT(2), a.ints(3), a.ints(4), a.ints(5), a.b(6), a.ints(7), a.i64(8)));
}
/** gelu(x, approximate 'none' | 'tanh') */
SMAE_OP(gelu) { return a.ret(at::gelu(a.t(0), a.s(1))); }
SMAE_OP(leakyRelu) { return a.ret(at::leaky_relu(a.t(0), a.scalar(1))); }
SMAE_OP(elu) { return a.ret(at::elu(a.t(0), a.scalar(1))); }
SMAE_OP(softplus) { return a.ret(at::softplus(a.t(0), a.scalar(1), a.scalar(2))); }
/** softmax(x, dim, dtype?) / logSoftmax */
SMAE_OP(softmax) { return a.ret(at::softmax(a.t(0), a.i64(1), a.optDtype(2))); }
SMAE_OP(logSoftmax) { return a.ret(at::log_softmax(a.t(0), a.i64(1), a.optDtype(2))); }
/** dropout(x, p, train) */
SMAE_OP(dropout) {
  double p = a.d(1);
  if (!(p >= 0 && p <= 1)) throw JsError("ERR_INVALID_ARG", "dropout: p must be in [0, 1], got " + std::to_string(p));
  return a.ret(at::dropout(a.t(0), p, a.b(2)));
}

/** scaledDotProductAttention(q [B,H,L,E], k [B,H,S,E], v [B,H,S,Ev], mask?, dropoutP, isCausal, scale?)
 *  -> [B,H,L,Ev]. LibTorch 2.x: its fused kernels (flash / memory-efficient / math). 1.13: the math path. */
SMAE_OP(scaledDotProductAttention) {
  at::Tensor& q = a.t(0);
  at::Tensor& k = a.t(1);
  at::Tensor& v = a.t(2);
  auto mask = a.optT(3);
  double p = a.d(4);
  bool causal = a.b(5);
  auto scale = a.optD(6);
#if SMAE_TORCH_MAJOR >= 2 && (SMAE_TORCH_MAJOR > 2 || SMAE_TORCH_MINOR >= 1)
  return a.ret(at::scaled_dot_product_attention(q, k, v, mask, p, causal, scale));
#else
  double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(q.size(-1))));
  at::Tensor attn = at::matmul(q, k.transpose(-2, -1)).mul(s);
  if (causal) {
    at::Tensor keepMask = at::ones({q.size(-2), k.size(-2)}, q.options().dtype(at::kBool)).tril();
    attn = attn.masked_fill(keepMask.logical_not(), -std::numeric_limits<double>::infinity());
  }
  if (mask) attn = mask->scalar_type() == at::kBool ? attn.masked_fill(mask->logical_not(), -std::numeric_limits<double>::infinity()) : attn.add(*mask);
  attn = at::softmax(attn, -1);
  if (p > 0) attn = at::dropout(attn, p, true);
  return a.ret(at::matmul(attn, v));
#endif
}

/** interpolate(x [N,C,H,W], size [h,w], mode 'bilinear'|'bicubic'|'nearest', alignCorners, antialias) */
SMAE_OP(interpolate) {
  at::Tensor& x = a.t(0);
  std::vector<int64_t> size = a.ints(1);
  std::string mode = a.s(2);
  bool align = a.b(3), aa = a.b(4);
  if (x.dim() != 4 || size.size() != 2)
    throw JsError("ERR_SHAPE_MISMATCH", "interpolate: expected a 4-D input and a 2-element size");
  if (mode == "bilinear") return a.ret(aa ? at::_upsample_bilinear2d_aa(x, size, align) : at::upsample_bilinear2d(x, size, align));
  if (mode == "bicubic") return a.ret(aa ? at::_upsample_bicubic2d_aa(x, size, align) : at::upsample_bicubic2d(x, size, align));
  if (mode == "nearest") return a.ret(at::upsample_nearest2d(x, size));
  throw JsError("ERR_INVALID_ARG", "interpolate: mode must be bilinear, bicubic or nearest, got '" + mode + "'");
}

/** Losses take reduction 0 = none, 1 = mean, 2 = sum (at::Reduction). */
SMAE_OP(mseLoss) { return a.ret(at::mse_loss(a.t(0), a.t(1), a.i64(2))); }
SMAE_OP(l1Loss) { return a.ret(at::l1_loss(a.t(0), a.t(1), a.i64(2))); }
SMAE_OP(smoothL1Loss) { return a.ret(at::smooth_l1_loss(a.t(0), a.t(1), a.i64(2), a.d(3))); }
/** crossEntropy(logits, target, weight?, reduction, ignoreIndex, labelSmoothing) */
SMAE_OP(crossEntropy) {
  return a.ret(at::cross_entropy_loss(a.t(0), a.t(1), a.optT(2), a.i64(3), a.i64(4), a.d(5)));
}
SMAE_OP(nllLoss) { return a.ret(at::nll_loss_nd(a.t(0), a.t(1), a.optT(2), a.i64(3), a.i64(4))); }
/** binaryCrossEntropyWithLogits(x, y, weight?, posWeight?, reduction) */
SMAE_OP(binaryCrossEntropyWithLogits) {
  return a.ret(at::binary_cross_entropy_with_logits(a.t(0), a.t(1), a.optT(2), a.optT(3), a.i64(4)));
}

/** FFT: rfft(x, n?, dim, norm?), irfft, fft. Results are complex tensors. */
SMAE_OP(rfft) {
  c10::optional<c10::string_view> norm;
  std::string ns;
  if (!a.isNullish(3)) { ns = a.s(3); norm = ns; }
  return a.ret(at::fft_rfft(a.t(0), a.optI64(1), a.i64(2), norm));
}
SMAE_OP(irfft) {
  c10::optional<c10::string_view> norm;
  std::string ns;
  if (!a.isNullish(3)) { ns = a.s(3); norm = ns; }
  return a.ret(at::fft_irfft(a.t(0), a.optI64(1), a.i64(2), norm));
}
SMAE_OP(fft) {
  c10::optional<c10::string_view> norm;
  std::string ns;
  if (!a.isNullish(3)) { ns = a.s(3); norm = ns; }
  return a.ret(at::fft_fft(a.t(0), a.optI64(1), a.i64(2), norm));
}
SMAE_OP(real) { return a.ret(at::real(a.t(0))); }
SMAE_OP(imag) { return a.ret(at::imag(a.t(0))); }
SMAE_OP(viewAsReal) { return a.ret(at::view_as_real(a.t(0))); }
/** stft(x, nFft, hop, winLength, window?, center, padMode, normalized, onesided) -> complex */
SMAE_OP(stft) {
  at::Tensor& x = a.t(0);
  std::string padMode = a.s(6);
  return a.ret(at::stft(x, a.i64(1), a.optI64(2), a.optI64(3), a.optT(4), a.b(5), padMode, a.b(7), c10::optional<bool>(a.b(8)), c10::optional<bool>(true)));
}
/** Windows: hannWindow(n, periodic, dtype, device), hammingWindow, blackmanWindow */
SMAE_OP(hannWindow) { return a.ret(at::hann_window(a.i64(0), a.b(1), at::TensorOptions().dtype(a.dtype(2)).device(a.device(3)))); }
SMAE_OP(hammingWindow) { return a.ret(at::hamming_window(a.i64(0), a.b(1), at::TensorOptions().dtype(a.dtype(2)).device(a.device(3)))); }
SMAE_OP(blackmanWindow) { return a.ret(at::blackman_window(a.i64(0), a.b(1), at::TensorOptions().dtype(a.dtype(2)).device(a.device(3)))); }
