// The one exception type native code throws on bad input, and its conversion to a JS Error.
#pragma once
#include <c10/util/Exception.h>
#include <node_api.h>

#include <stdexcept>
#include <string>

namespace smae {

/** An error with a stable code (ERR_INVALID_ARG, ERR_SHAPE_MISMATCH, ERR_DTYPE, ...). */
struct JsError : std::runtime_error {
  std::string code;
  JsError(std::string c, const std::string& msg) : std::runtime_error(msg), code(std::move(c)) {}
};

/** Classifies a LibTorch message into one of our stable codes (`fallback` when no rule matches). */
const char* classifyTorchMessage(const std::string& msg, const char* fallback = "ERR_TORCH");

/**
 * Classifies a LibTorch exception by its type first (c10::OutOfMemoryError -> ERR_OOM, c10::IndexError ->
 * ERR_INDEX, ...), by its message only where the type does not decide (a plain c10::Error, or a
 * ValueError / TypeError / NotImplementedError whose message names a device, dtype or shape).
 */
const char* classifyTorchError(const c10::Error& e);

/** Creates (without throwing) `new TorchError(message, code)` (the class JS registered), for rejecting a
 *  Promise. */
napi_value makeJsError(napi_env env, const std::string& code, const std::string& message);

/** Throws `new TorchError(message, code)` (the class JS registered) as a pending JS exception. */
void throwJs(napi_env env, const std::string& code, const std::string& message);

}  // namespace smae
