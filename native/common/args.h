// Argument readers for raw napi callbacks, the op registry, and the one try/catch that turns every
// C++/c10 exception into a JS Error with a stable code.
//
// Raw Node-API (node_api.h), not node-addon-api: results are int ids into the per-environment handle
// table (handles.h), and with raw callbacks an op like a 4-element add measured 0.62-0.72 us per call,
// while node-addon-api's wrappers add per-call cost (CallbackInfo ~0.01-0.04 us, an ObjectWrap per result
// 1.7-1.9 us). The package therefore does not depend on node-addon-api (docs/ARCHITECTURE.md,
// "Tensor representation").
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Scalar.h>
#include <node_api.h>

#include <c10/util/Optional.h>
#include <string>
#include <vector>

#include "errors.h"
#include "handles.h"

namespace smae {

constexpr size_t kMaxArgs = 16;

/** The arguments of one native call. Readers validate JS types and name the argument on error. */
struct Args {
  // Declaration order matters: argc/argv are filled while stp is initialised.
  napi_env env;
  size_t argc = kMaxArgs;
  napi_value argv[kMaxArgs];  // napi_get_cb_info fills the slots past the actual count with undefined
  EnvState* stp;
  EnvState& st;
  const char* op;
  // Ids of the tensors read so far, described in error messages (ids, not pointers: the slot table may
  // grow before an error is reported). A fixed array: no allocation on the hot path.
  static constexpr size_t kMaxSeen = 6;
  double seen[kMaxSeen];
  uint8_t seenArg[kMaxSeen];  // argument position of each (C++ may read arguments in any order)
  size_t nSeen = 0;

  /** `data` is the EnvState registered as the function's data pointer (native/addon.cc). */
  Args(napi_env e, napi_callback_info info, const char* name);

  napi_valuetype type(size_t i) const;
  bool isNullish(size_t i) const;
  at::Tensor& t(size_t i);
  c10::optional<at::Tensor> optT(size_t i);
  std::vector<at::Tensor> tensors(size_t i);
  double d(size_t i) const;
  c10::optional<double> optD(size_t i) const;
  int64_t i64(size_t i) const;
  c10::optional<int64_t> optI64(size_t i) const;
  bool b(size_t i) const;
  std::string s(size_t i) const;
  std::vector<int64_t> ints(size_t i) const;
  c10::optional<std::vector<int64_t>> optInts(size_t i) const;
  std::vector<double> doubles(size_t i) const;
  at::Scalar scalar(size_t i) const;
  at::ScalarType dtype(size_t i) const;
  c10::optional<at::ScalarType> optDtype(size_t i) const;
  at::Device device(size_t i) const;

  /** Typed array argument i of kind `want` (Float32Array, Uint8Array, ...): its data and element count. */
  void* typedArray(size_t i, napi_typedarray_type want, size_t& length, const char* expected) const;

  [[noreturn]] void fail(size_t i, const std::string& expected) const;
  /** Element k of array argument i. An accessor element may run JS that throws: that exception stays
   *  the one the caller sees (throwJs keeps a pending exception). */
  napi_value element(size_t i, uint32_t k) const;

  napi_value ret(at::Tensor t);
  napi_value ret(const std::vector<at::Tensor>& ts);
  napi_value retNumber(double v) const;
  napi_value retBool(bool v) const;
  napi_value retString(const std::string& v) const;
  napi_value undefined() const;
};

/** A JS value seen as a typed array: ok is false when it is none; length counts elements, bytes() bytes. */
struct TypedView {
  bool ok = false;
  napi_typedarray_type type = napi_int8_array;
  void* data = nullptr;
  size_t length = 0;
  size_t bytes() const;
};
TypedView typedView(napi_env env, napi_value v);

/** Dtype codes shared with lib/native/binding.ts (DTYPES): index = code. */
at::ScalarType dtypeFromCode(int64_t code);
int64_t codeFromDtype(at::ScalarType t);
/** "float32[2,3] cpu" */
std::string describe(const at::Tensor& t);

using OpImpl = napi_value (*)(Args&);
/** How a native call holds the fork gate (common/fork_gate.h): shared by default; exclusive for ops that
 *  change process-wide BLAS state, which no concurrent call may observe half-done; none for an op that
 *  blocks the JS thread waiting for other processes (it takes a SharedSection itself around its tensor
 *  work, so that a fork on another thread does not wait for a peer). */
enum class Gate { Shared, Exclusive, None };
napi_value invoke(napi_env env, napi_callback_info info, const char* name, OpImpl impl, Gate gate = Gate::Shared);

struct OpDef {
  const char* name;
  napi_callback fn;
};
std::vector<OpDef>& registry();
struct Register {
  Register(const char* name, napi_callback fn) { registry().push_back({name, fn}); }
};

}  // namespace smae

/** Defines and registers a native function `name` whose body reads `Args& a`. */
#define SMAE_OP(name)                                                                    \
  static napi_value name##_impl(smae::Args& a);                                          \
  static napi_value name##_cb(napi_env env, napi_callback_info info) {                   \
    return smae::invoke(env, info, #name, name##_impl);                                  \
  }                                                                                      \
  static smae::Register name##_reg(#name, name##_cb);                                    \
  static napi_value name##_impl(smae::Args& a)

/** SMAE_OP whose body runs without the fork gate: it must hold a SharedSection around any tensor work
 *  (for a blocking wait on other processes, e.g. distAllGatherSync). */
#define SMAE_OP_UNGATED(name)                                                            \
  static napi_value name##_impl(smae::Args& a);                                          \
  static napi_value name##_cb(napi_env env, napi_callback_info info) {                   \
    return smae::invoke(env, info, #name, name##_impl, smae::Gate::None);                \
  }                                                                                      \
  static smae::Register name##_reg(#name, name##_cb);                                    \
  static napi_value name##_impl(smae::Args& a)

/** SMAE_OP whose body runs with the fork gate held exclusively (no other native call in flight). */
#define SMAE_OP_EXCLUSIVE(name)                                                          \
  static napi_value name##_impl(smae::Args& a);                                          \
  static napi_value name##_cb(napi_env env, napi_callback_info info) {                   \
    return smae::invoke(env, info, #name, name##_impl, smae::Gate::Exclusive);           \
  }                                                                                      \
  static smae::Register name##_reg(#name, name##_cb);                                    \
  static napi_value name##_impl(smae::Args& a)
