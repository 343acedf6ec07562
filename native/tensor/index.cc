// Indexing: gather/scatter, masks, sorting, advanced indexing and index assignment.
#include <ATen/ATen.h>

#include "../common/args.h"

using smae::Args;

SMAE_OP(gather) { return a.ret(at::gather(a.t(0), a.i64(1), a.t(2))); }
/** scatter(x, dim, index, src) / scatterS(x, dim, index, value) / scatterAdd(x, dim, index, src) */
SMAE_OP(scatter) { return a.ret(at::scatter(a.t(0), a.i64(1), a.t(2), a.t(3))); }
SMAE_OP(scatterS) { return a.ret(at::scatter(a.t(0), a.i64(1), a.t(2), a.scalar(3))); }
SMAE_OP(scatterAdd) { return a.ret(at::scatter_add(a.t(0), a.i64(1), a.t(2), a.t(3))); }
SMAE_OP(indexSelect) { return a.ret(at::index_select(a.t(0), a.i64(1), a.t(2))); }
/** maskedFill(x, mask, value) with a scalar value; maskedFillT with a 0-d tensor value */
SMAE_OP(maskedFill) { return a.ret(at::masked_fill(a.t(0), a.t(1), a.scalar(2))); }
SMAE_OP(maskedFillT) { return a.ret(at::masked_fill(a.t(0), a.t(1), a.t(2))); }
SMAE_OP(maskedSelect) { return a.ret(at::masked_select(a.t(0), a.t(1))); }
/** sort(x, dim, descending, stable) -> [values, indices] */
SMAE_OP(sort) {
  auto r = at::sort(a.t(0), a.b(3), a.i64(1), a.b(2));
  return a.ret(std::vector<at::Tensor>{std::get<0>(r), std::get<1>(r)});
}
SMAE_OP(argsort) { return a.ret(std::get<1>(at::sort(a.t(0), a.b(3), a.i64(1), a.b(2)))); }
/** topk(x, k, dim, largest, sorted) -> [values, indices] */
SMAE_OP(topk) {
  auto r = at::topk(a.t(0), a.i64(1), a.i64(2), a.b(3), a.b(4));
  return a.ret(std::vector<at::Tensor>{std::get<0>(r), std::get<1>(r)});
}
SMAE_OP(nonzero) { return a.ret(at::nonzero(a.t(0))); }
SMAE_OP(oneHot) { return a.ret(at::one_hot(a.t(0), a.i64(1))); }
SMAE_OP(embedding) { return a.ret(at::embedding(a.t(0), a.t(1))); }

namespace {
/** Reads an array of (tensor id | null) as the index list of x[idx0, idx1, ...]. */
c10::List<c10::optional<at::Tensor>> indexList(Args& a, size_t i) {
  bool isArr = false;
  napi_is_array(a.env, a.argv[i], &isArr);
  if (!isArr) a.fail(i, "an array of index tensors or null");
  uint32_t n;
  napi_get_array_length(a.env, a.argv[i], &n);
  c10::List<c10::optional<at::Tensor>> out;
  for (uint32_t k = 0; k < n; k++) {
    napi_value v = a.element(i, k);
    napi_valuetype t;
    napi_typeof(a.env, v, &t);
    if (t == napi_null || t == napi_undefined) {
      out.push_back(c10::nullopt);
      continue;
    }
    double id;
    if (napi_get_value_double(a.env, v, &id) != napi_ok) a.fail(i, "an array of index tensors or null");
    out.push_back(smae::lookup(a.st, id));
  }
  return out;
}
}  // namespace

/** index(x, [idx|null, ...]): advanced indexing x[idx0, idx1, ...] (null = full slice). */
SMAE_OP(index) {
  at::Tensor& x = a.t(0);
  return a.ret(at::index(x, indexList(a, 1)));
}
/** indexPut_(x, [idx|null, ...], values, accumulate) */
SMAE_OP(indexPut_) {
  at::Tensor& x = a.t(0);
  auto idx = indexList(a, 1);
  x.index_put_(idx, a.t(2), a.b(3));
  return a.argv[0];
}
SMAE_OP(indexPut) {
  at::Tensor& x = a.t(0);
  auto idx = indexList(a, 1);
  return a.ret(at::index_put(x, idx, a.t(2), a.b(3)));
}
