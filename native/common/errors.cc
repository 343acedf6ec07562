#include "errors.h"

#include "handles.h"

namespace smae {

namespace {
bool has(const std::string& s, const char* needle) { return s.find(needle) != std::string::npos; }
}  // namespace

const char* classifyTorchMessage(const std::string& m, const char* fallback) {
  if (has(m, "out of memory") || has(m, "not enough memory") || has(m, "Failed to allocate") ||
      has(m, "can't allocate memory"))
    return "ERR_OOM";
  if (has(m, "backward through the graph") || has(m, "inplace operation") || has(m, "in-place operation") ||
      has(m, "does not require grad") || has(m, "differentiated Tensors") || has(m, "grad_fn") ||
      has(m, "leaf Variable") || has(m, "Mismatch in shape: grad_output"))
    return "ERR_AUTOGRAD";
  if (has(m, "same device") || has(m, "Expected all tensors to be on") || has(m, "device type") ||
      has(m, "CUDA") || has(m, "cuda"))
    return "ERR_DEVICE";
  if (has(m, "complex types") || has(m, "real input tensor") || has(m, "used as indices must be long"))
    return "ERR_DTYPE";
  if (has(m, "must be a matrix") || has(m, "at least 1D") || has(m, "3D tensor") || has(m, "1-D argument") ||
      has(m, "1D or 2D"))
    return "ERR_SHAPE_MISMATCH";
  if (has(m, "dtype") || has(m, "scalar type") || has(m, "ScalarType") || has(m, "Expected object of scalar") ||
      has(m, "not implemented for") || has(m, "result type") || has(m, "can't be cast") ||
      has(m, "must be a floating point") || has(m, "only Tensors of floating point"))
    return "ERR_DTYPE";
  if (has(m, "out of range") || has(m, "out of bounds")) return "ERR_INDEX";  // IndexError in Python
  if (has(m, "size") || has(m, "shape") || has(m, "dimension") || has(m, "Dimension") ||
      has(m, "must match") || has(m, "broadcast") || has(m, "numel") || has(m, "invalid for input of"))
    return "ERR_SHAPE_MISMATCH";
  if (has(m, "index") || has(m, "out of bounds") || has(m, "out of range")) return "ERR_INDEX";
  return fallback;
}

// c10's typed errors (c10/util/Exception.h; all of them exist in LibTorch 1.13 and 2.x), most derived
// first. Python raises them as MemoryError, IndexError, ValueError, TypeError, NotImplementedError and
// torch.linalg.LinAlgError.
const char* classifyTorchError(const c10::Error& e) {
  const std::string m = e.what_without_backtrace();
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e)) return "ERR_OOM";
  if (dynamic_cast<const c10::IndexError*>(&e)) return "ERR_INDEX";
  if (dynamic_cast<const c10::LinAlgError*>(&e) || dynamic_cast<const c10::EnforceFiniteError*>(&e))
    return "ERR_INVALID_ARG";  // the input's values (a singular matrix, a NaN) are what the op refuses
  if (dynamic_cast<const c10::ValueError*>(&e)) return classifyTorchMessage(m, "ERR_INVALID_ARG");
  if (dynamic_cast<const c10::TypeError*>(&e)) return classifyTorchMessage(m, "ERR_DTYPE");
  if (dynamic_cast<const c10::NotImplementedError*>(&e)) return classifyTorchMessage(m, "ERR_UNSUPPORTED");
  return classifyTorchMessage(m);
}

void throwJs(napi_env env, const std::string& code, const std::string& message) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  napi_throw(env, makeJsError(env, code, message));
}

napi_value makeJsError(napi_env env, const std::string& code, const std::string& message) {
  napi_value msg, codeVal, err = nullptr;
  napi_create_string_utf8(env, message.c_str(), message.size(), &msg);
  napi_create_string_utf8(env, code.c_str(), code.size(), &codeVal);
  EnvState& s = state(env);
  napi_value ctor;
  if (s.errorClass && napi_get_reference_value(env, s.errorClass, &ctor) == napi_ok && ctor) {
    napi_value argv[2] = {msg, codeVal};
    if (napi_new_instance(env, ctor, 2, argv, &err) != napi_ok) err = nullptr;
  }
  if (!err) {
    napi_create_error(env, codeVal, msg, &err);
  }
  return err;
}

}  // namespace smae
