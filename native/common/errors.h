// The one exception type native code throws on bad input, and its conversion to a JS Error.
#pragma once
#include <node_api.h>

#include <stdexcept>
#include <string>

namespace smae {

/** An error with a stable code (ERR_INVALID_ARG, ERR_SHAPE_MISMATCH, ERR_DTYPE, ...). */
struct JsError : std::runtime_error {
  std::string code;
  JsError(std::string c, const std::string& msg) : std::runtime_error(msg), code(std::move(c)) {}
};

/** Classifies a LibTorch message into one of our stable codes. */
const char* classifyTorchMessage(const std::string& msg);

/** Throws `new TorchError(message, code)` (the class JS registered) as a pending JS exception. */
void throwJs(napi_env env, const std::string& code, const std::string& message);

}  // namespace smae
