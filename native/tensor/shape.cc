// Shape and view ops: reshape, permute, concatenation, splitting, slicing, padding.
#include <ATen/ATen.h>

#include "../common/args.h"

using smae::Args;
using smae::JsError;

SMAE_OP(view) { return a.ret(a.t(0).view(a.ints(1))); }
SMAE_OP(reshape) { return a.ret(a.t(0).reshape(a.ints(1))); }
SMAE_OP(permute) { return a.ret(a.t(0).permute(a.ints(1))); }
SMAE_OP(transpose) { return a.ret(a.t(0).transpose(a.i64(1), a.i64(2))); }
SMAE_OP(movedim) { return a.ret(at::movedim(a.t(0), a.ints(1), a.ints(2))); }
SMAE_OP(flatten) { return a.ret(a.t(0).flatten(a.i64(1), a.i64(2))); }
SMAE_OP(unflatten) { return a.ret(a.t(0).unflatten(a.i64(1), a.ints(2))); }
/** squeeze(x, dim?) */
SMAE_OP(squeeze) {
  if (a.isNullish(1)) return a.ret(a.t(0).squeeze());
  return a.ret(a.t(0).squeeze(a.i64(1)));
}
SMAE_OP(unsqueeze) { return a.ret(a.t(0).unsqueeze(a.i64(1))); }
SMAE_OP(expand) { return a.ret(a.t(0).expand(a.ints(1))); }
SMAE_OP(repeat) { return a.ret(a.t(0).repeat(a.ints(1))); }
/** repeatInterleave(x, repeats, dim?) */
SMAE_OP(repeatInterleave) { return a.ret(at::repeat_interleave(a.t(0), a.i64(1), a.optI64(2))); }
SMAE_OP(cat) { return a.ret(at::cat(a.tensors(0), a.i64(1))); }
SMAE_OP(stack) { return a.ret(at::stack(a.tensors(0), a.i64(1))); }
/** split(x, size, dim) -> list; splitSizes(x, sizes[], dim) -> list */
SMAE_OP(split) { return a.ret(at::split(a.t(0), a.i64(1), a.i64(2))); }
SMAE_OP(splitSizes) { return a.ret(at::split_with_sizes(a.t(0), a.ints(1), a.i64(2))); }
SMAE_OP(chunk) { return a.ret(at::chunk(a.t(0), a.i64(1), a.i64(2))); }
SMAE_OP(unbind) { return a.ret(at::unbind(a.t(0), a.i64(1))); }
SMAE_OP(narrow) { return a.ret(a.t(0).narrow(a.i64(1), a.i64(2), a.i64(3))); }
/** slice(x, dim, start?, end?, step): Python semantics for negative and out-of-range bounds. */
SMAE_OP(slice) {
  int64_t step = a.i64(4);
  if (step <= 0) throw JsError("ERR_INVALID_ARG", "slice: step must be positive, got " + std::to_string(step));
  return a.ret(a.t(0).slice(a.i64(1), a.optI64(2), a.optI64(3), step));
}
SMAE_OP(select) { return a.ret(a.t(0).select(a.i64(1), a.i64(2))); }
SMAE_OP(flip) { return a.ret(at::flip(a.t(0), a.ints(1))); }
SMAE_OP(roll) { return a.ret(at::roll(a.t(0), a.ints(1), a.ints(2))); }
SMAE_OP(tril) { return a.ret(at::tril(a.t(0), a.i64(1))); }
SMAE_OP(triu) { return a.ret(at::triu(a.t(0), a.i64(1))); }
/** unfold(x, dim, size, step): sliding windows as a new last dimension (a view). */
SMAE_OP(unfold) { return a.ret(a.t(0).unfold(a.i64(1), a.i64(2), a.i64(3))); }
/** asStrided(x, size, stride, offset): a view of x's storage; callers bounds-check. */
SMAE_OP(asStrided) {
  at::Tensor& x = a.t(0);
  std::vector<int64_t> size = a.ints(1), stride = a.ints(2);
  int64_t offset = a.i64(3);
  if (size.size() != stride.size()) throw JsError("ERR_SHAPE_MISMATCH", "asStrided: size and stride lengths differ");
  int64_t last = offset;
  for (size_t i = 0; i < size.size(); i++) {
    if (size[i] < 0 || stride[i] < 0) throw JsError("ERR_INVALID_ARG", "asStrided: negative size or stride");
    if (size[i] == 0) { last = -1; break; }
    last += (size[i] - 1) * stride[i];
  }
  int64_t avail = static_cast<int64_t>(x.storage().nbytes() / x.element_size());
  if (offset < 0 || last >= avail)
    throw JsError("ERR_INDEX", "asStrided: view reaches element " + std::to_string(last) + " of a storage of " + std::to_string(avail));
  return a.ret(x.as_strided(size, stride, offset));
}
/** pad(x, pads, mode, value): mode 'constant' | 'reflect' | 'replicate' (pads as torch.nn.functional.pad). */
SMAE_OP(pad) {
  at::Tensor& x = a.t(0);
  std::vector<int64_t> p = a.ints(1);
  std::string mode = a.s(2);
  if (p.size() % 2) throw JsError("ERR_INVALID_ARG", "pad: pad list length must be even");
  if (mode == "constant") return a.ret(at::constant_pad_nd(x, p, a.scalar(3)));
  size_t k = p.size() / 2;
  if (mode == "reflect") {
    if (k == 1) return a.ret(at::reflection_pad1d(x, p));
    if (k == 2) return a.ret(at::reflection_pad2d(x, p));
    if (k == 3) return a.ret(at::reflection_pad3d(x, p));
  } else if (mode == "replicate") {
    if (k == 1) return a.ret(at::replication_pad1d(x, p));
    if (k == 2) return a.ret(at::replication_pad2d(x, p));
    if (k == 3) return a.ret(at::replication_pad3d(x, p));
  } else {
    throw JsError("ERR_INVALID_ARG", "pad: mode must be 'constant', 'reflect' or 'replicate', got '" + mode + "'");
  }
  throw JsError("ERR_INVALID_ARG", "pad: " + mode + " padding takes 2, 4 or 6 values, got " + std::to_string(p.size()));
}
