// TorchScript: torch.jit.load of a scripted/traced PyTorch module, and calling its methods on our
// tensors. Modules live in the environment's state next to the tensor handles (ids are indices; a
// freed slot reads as disposed), so workers never share them.
#include <torch/script.h>

#include <memory>
#include <string>
#include <vector>

#include "../common/args.h"

using smae::Args;
using smae::JsError;

namespace {

torch::jit::Module& moduleArg(Args& a, size_t i) {
  int64_t id = a.i64(i);
  auto& mods = a.st.jitModules;
  if (id < 0 || id >= static_cast<int64_t>(mods.size()) || !mods[id])
    throw JsError("ERR_TENSOR_DISPOSED", "TorchScript module " + std::to_string(id) + " was disposed or never loaded");
  return *static_cast<torch::jit::Module*>(mods[id].get());
}

/** IValue -> JS: `{ tensor: id }`, a number, a bool, null, or an array of those (tuples and lists). */
napi_value toJs(Args& a, const c10::IValue& v) {
  if (v.isTensor()) {
    napi_value obj;
    napi_create_object(a.env, &obj);
    napi_set_named_property(a.env, obj, "tensor", a.ret(v.toTensor()));
    return obj;
  }
  if (v.isDouble()) return a.retNumber(v.toDouble());
  if (v.isInt()) return a.retNumber(static_cast<double>(v.toInt()));
  if (v.isBool()) return a.retBool(v.toBool());
  if (v.isNone()) {
    napi_value n;
    napi_get_null(a.env, &n);
    return n;
  }
  std::vector<c10::IValue> items;
  if (v.isTuple()) items = v.toTupleRef().elements().vec();
  else if (v.isList()) items = v.toListRef().vec();
  else throw JsError("ERR_UNSUPPORTED", std::string("TorchScript result of type ") + v.tagKind() + " is not supported");
  napi_value arr;
  napi_create_array_with_length(a.env, items.size(), &arr);
  for (size_t k = 0; k < items.size(); k++) napi_set_element(a.env, arr, k, toJs(a, items[k]));
  return arr;
}

}  // namespace

/** jitLoad(path, device) -> module id */
SMAE_OP(jitLoad) {
  std::string path = a.s(0);
  at::Device dev = a.device(1);
  auto& mods = a.st.jitModules;
  mods.push_back(std::make_shared<torch::jit::Module>(torch::jit::load(path, dev)));
  return a.retNumber(static_cast<double>(mods.size() - 1));
}

/** jitMethods(id) -> names of the module's methods */
SMAE_OP(jitMethods) {
  torch::jit::Module& m = moduleArg(a, 0);
  std::vector<std::string> names;
  for (const auto& method : m.get_methods()) names.push_back(method.name());
  napi_value arr;
  napi_create_array_with_length(a.env, names.size(), &arr);
  for (size_t k = 0; k < names.size(); k++) napi_set_element(a.env, arr, k, a.retString(names[k]));
  return arr;
}

/** jitCall(id, method, args[]) with args tensor ids -> result (see toJs) */
SMAE_OP(jitCall) {
  torch::jit::Module& m = moduleArg(a, 0);
  std::string name = a.s(1);
  auto method = m.find_method(name);
  if (!method) throw JsError("ERR_INVALID_ARG", "TorchScript module has no method '" + name + "'");
  std::vector<c10::IValue> inputs;
  for (auto& t : a.tensors(2)) inputs.emplace_back(t);
  return toJs(a, (*method)(std::move(inputs)));
}

/** jitTrain(id, flag) */
SMAE_OP(jitTrain) {
  moduleArg(a, 0).train(a.b(1));
  return a.undefined();
}

/** jitDispose(id): frees the module (idempotent). */
SMAE_OP(jitDispose) {
  int64_t id = a.i64(0);
  auto& mods = a.st.jitModules;
  if (id >= 0 && id < static_cast<int64_t>(mods.size())) mods[id].reset();
  return a.undefined();
}
