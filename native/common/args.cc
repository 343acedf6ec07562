#include "args.h"

#include <c10/util/Exception.h>

#include "fork_gate.h"

#include <algorithm>
#include <cmath>
#include <new>
#include <sstream>

namespace smae {

namespace {
const at::ScalarType kDtypes[] = {at::kFloat, at::kHalf,  at::kBFloat16, at::kDouble,        at::kLong,         at::kInt,
                                  at::kByte,  at::kBool,  at::kChar,     at::kShort,         at::kComplexFloat, at::kComplexDouble};
const char* kDtypeNames[] = {"float32", "float16", "bfloat16", "float64", "int64",     "int32",
                             "uint8",   "bool",    "int8",     "int16",   "complex64", "complex128"};
const char* typeName(napi_valuetype t) {
  switch (t) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "boolean";
    case napi_number: return "number";
    case napi_string: return "string";
    case napi_bigint: return "bigint";
    case napi_function: return "function";
    default: return "object";
  }
}
}  // namespace

at::ScalarType dtypeFromCode(int64_t code) {
  if (code < 0 || code >= static_cast<int64_t>(sizeof(kDtypes) / sizeof(kDtypes[0])))
    throw JsError("ERR_DTYPE", "unknown dtype code " + std::to_string(code));
  return kDtypes[code];
}

int64_t codeFromDtype(at::ScalarType t) {
  for (size_t i = 0; i < sizeof(kDtypes) / sizeof(kDtypes[0]); i++)
    if (kDtypes[i] == t) return static_cast<int64_t>(i);
  throw JsError("ERR_DTYPE", std::string("unsupported dtype ") + c10::toString(t));
}

std::string describe(const at::Tensor& t) {
  if (!t.defined()) return "undefined";
  std::ostringstream o;
  int64_t code = -1;
  for (size_t i = 0; i < sizeof(kDtypes) / sizeof(kDtypes[0]); i++)
    if (kDtypes[i] == t.scalar_type()) code = static_cast<int64_t>(i);
  o << (code >= 0 ? kDtypeNames[code] : c10::toString(t.scalar_type())) << "[";
  for (int64_t d = 0; d < t.dim(); d++) o << (d ? "," : "") << t.size(d);
  o << "] " << t.device().str();
  return o.str();
}

namespace {
EnvState* envData(napi_env env, napi_callback_info info, size_t& argc, napi_value* argv) {
  void* data = nullptr;
  // Fills argv[argc..kMaxArgs) with undefined itself (Node-API contract), so readers may look at any slot.
  napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
  return data ? static_cast<EnvState*>(data) : &state(env);
}
}  // namespace

Args::Args(napi_env e, napi_callback_info info, const char* name)
    : env(e), stp(envData(e, info, argc, argv)), st(*stp), op(name) {}

napi_valuetype Args::type(size_t i) const {
  napi_valuetype t;
  napi_typeof(env, argv[i], &t);
  return t;
}

bool Args::isNullish(size_t i) const {
  napi_valuetype t = type(i);
  return t == napi_undefined || t == napi_null;
}

void Args::fail(size_t i, const std::string& expected) const {
  throw JsError("ERR_INVALID_ARG", "argument " + std::to_string(i) + ": expected " + expected + ", got " +
                                       typeName(type(i)));
}

TypedView typedView(napi_env env, napi_value v) {
  TypedView r;
  bool isTyped = false;
  if (napi_is_typedarray(env, v, &isTyped) != napi_ok || !isTyped) return r;
  napi_value ab;
  size_t offset = 0;
  r.ok = napi_get_typedarray_info(env, v, &r.type, &r.length, &r.data, &ab, &offset) == napi_ok;
  return r;
}

size_t TypedView::bytes() const {
  switch (type) {
    case napi_int16_array: case napi_uint16_array: return length * 2;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: return length * 4;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: return length * 8;
    default: return length;
  }
}

void* Args::typedArray(size_t i, napi_typedarray_type want, size_t& length, const char* expected) const {
  TypedView v = typedView(env, argv[i]);
  if (!v.ok || v.type != want) fail(i, expected);
  length = v.length;
  return v.data;
}

napi_value Args::element(size_t i, uint32_t k) const {
  napi_value v;
  if (napi_get_element(env, argv[i], k, &v) != napi_ok)
    throw JsError("ERR_INVALID_ARG", "argument " + std::to_string(i) + ": element " + std::to_string(k) + " could not be read");
  return v;
}

at::Tensor& Args::t(size_t i) {
  double id;
  if (napi_get_value_double(env, argv[i], &id) != napi_ok) fail(i, "a tensor id");
  at::Tensor& r = lookup(st, id);
  if (nSeen < kMaxSeen) {
    seenArg[nSeen] = static_cast<uint8_t>(i);
    seen[nSeen++] = id;
  }
  return r;
}

c10::optional<at::Tensor> Args::optT(size_t i) {
  if (isNullish(i)) return c10::nullopt;
  return t(i);
}

std::vector<at::Tensor> Args::tensors(size_t i) {
  bool isArr = false;
  napi_is_array(env, argv[i], &isArr);
  if (!isArr) fail(i, "an array of tensors");
  uint32_t n;
  napi_get_array_length(env, argv[i], &n);
  std::vector<at::Tensor> out;
  out.reserve(std::min<uint32_t>(n, 4096));  // a sparse JS array may claim 2^32 - 1 elements
  for (uint32_t k = 0; k < n; k++) {
    napi_value v = element(i, k);
    double id;
    if (napi_get_value_double(env, v, &id) != napi_ok) fail(i, "an array of tensor ids");
    out.push_back(lookup(st, id));
    if (nSeen < kMaxSeen) {
      seenArg[nSeen] = static_cast<uint8_t>(i);
      seen[nSeen++] = id;
    }
  }
  return out;
}

double Args::d(size_t i) const {
  double v;
  if (napi_get_value_double(env, argv[i], &v) != napi_ok) fail(i, "a number");
  return v;
}

c10::optional<double> Args::optD(size_t i) const {
  if (isNullish(i)) return c10::nullopt;
  return d(i);
}

int64_t Args::i64(size_t i) const {
  double v = d(i);
  if (!std::isfinite(v) || v != std::floor(v) || std::fabs(v) > 9007199254740991.0)
    throw JsError("ERR_INVALID_ARG", "argument " + std::to_string(i) + ": expected an integer, got " + std::to_string(v));
  return static_cast<int64_t>(v);
}

c10::optional<int64_t> Args::optI64(size_t i) const {
  if (isNullish(i)) return c10::nullopt;
  return i64(i);
}

bool Args::b(size_t i) const {
  if (isNullish(i)) return false;
  bool v;
  if (napi_get_value_bool(env, argv[i], &v) != napi_ok) fail(i, "a boolean");
  return v;
}

std::string Args::s(size_t i) const {
  size_t len;
  if (napi_get_value_string_utf8(env, argv[i], nullptr, 0, &len) != napi_ok) fail(i, "a string");
  std::string out(len, '\0');
  napi_get_value_string_utf8(env, argv[i], out.data(), len + 1, &len);
  return out;
}

std::vector<double> Args::doubles(size_t i) const {
  bool isArr = false;
  napi_is_array(env, argv[i], &isArr);
  if (!isArr) fail(i, "an array of numbers");
  uint32_t n;
  napi_get_array_length(env, argv[i], &n);
  std::vector<double> out;
  out.reserve(std::min<uint32_t>(n, 4096));  // a sparse JS array may claim 2^32 - 1 elements
  for (uint32_t k = 0; k < n; k++) {
    napi_value v = element(i, k);
    double x;
    if (napi_get_value_double(env, v, &x) != napi_ok) fail(i, "an array of numbers");
    out.push_back(x);
  }
  return out;
}

std::vector<int64_t> Args::ints(size_t i) const {
  std::vector<double> ds = doubles(i);
  std::vector<int64_t> out(ds.size());
  for (size_t k = 0; k < ds.size(); k++) {
    double v = ds[k];
    if (!std::isfinite(v) || v != std::floor(v) || std::fabs(v) > 9007199254740991.0)
      throw JsError("ERR_INVALID_ARG", "argument " + std::to_string(i) + ": expected integers, element " +
                                           std::to_string(k) + " is " + std::to_string(v));
    out[k] = static_cast<int64_t>(v);
  }
  return out;
}

c10::optional<std::vector<int64_t>> Args::optInts(size_t i) const {
  if (isNullish(i)) return c10::nullopt;
  return ints(i);
}

at::Scalar Args::scalar(size_t i) const {
  napi_valuetype t = type(i);
  if (t == napi_boolean) return at::Scalar(b(i));
  if (t != napi_number) fail(i, "a number");
  double v = d(i);
  // Integral values stay integral so that int tensors keep their dtype (PyTorch promotion rules).
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) <= 9007199254740991.0) return at::Scalar(static_cast<int64_t>(v));
  return at::Scalar(v);
}

at::ScalarType Args::dtype(size_t i) const { return dtypeFromCode(i64(i)); }

c10::optional<at::ScalarType> Args::optDtype(size_t i) const {
  if (isNullish(i)) return c10::nullopt;
  return dtype(i);
}

at::Device Args::device(size_t i) const {
  std::string name = s(i);
  try {
    return at::Device(name);
  } catch (const c10::Error&) {
    throw JsError("ERR_DEVICE", "argument " + std::to_string(i) + ": unknown device '" + name + "' (expected 'cpu' or 'cuda:N')");
  }
}

napi_value Args::ret(at::Tensor t) {
  napi_value v;
  napi_create_double(env, insert(st, std::move(t)), &v);
  return v;
}

napi_value Args::ret(const std::vector<at::Tensor>& ts) {
  napi_value arr;
  napi_create_array_with_length(env, ts.size(), &arr);
  for (size_t k = 0; k < ts.size(); k++) napi_set_element(env, arr, k, ret(ts[k]));
  return arr;
}

napi_value Args::retNumber(double v) const {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

napi_value Args::retBool(bool v) const {
  napi_value r;
  napi_get_boolean(env, v, &r);
  return r;
}

napi_value Args::retString(const std::string& v) const {
  napi_value r;
  napi_create_string_utf8(env, v.c_str(), v.size(), &r);
  return r;
}

napi_value Args::undefined() const {
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}

std::vector<OpDef>& registry() {
  static std::vector<OpDef> ops;
  return ops;
}

namespace {
std::string withOperands(const Args& a, const std::string& msg) {
  std::string out = std::string(a.op) + ": " + msg;
  std::string ops;
  for (size_t pos = 0; pos < kMaxArgs; pos++) {  // in argument order
    for (size_t k = 0; k < a.nSeen; k++) {
      if (a.seenArg[k] != pos || !isLive(a.st, a.seen[k])) continue;
      ops += (ops.empty() ? " " : ", ") + describe(lookup(a.st, a.seen[k]));
    }
  }
  if (!ops.empty()) out += " (operands:" + ops + ")";
  return out;
}
}  // namespace

napi_value invoke(napi_env env, napi_callback_info info, const char* name, OpImpl impl, Gate gate) {
  Args a(env, info, name);
  try {
    // The section ends before a catch clause runs (throwJs may call back into JS).
    if (gate == Gate::Exclusive) {
      ExclusiveSection g;
      return impl(a);
    }
    if (gate == Gate::None) return impl(a);
    SharedSection g;
    return impl(a);
  } catch (const JsError& e) {
    throwJs(env, e.code, withOperands(a, e.what()));
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    throwJs(env, classifyTorchError(e), withOperands(a, msg));
  } catch (const std::bad_alloc&) {
    throwJs(env, "ERR_OOM", withOperands(a, "out of memory"));
  } catch (const std::exception& e) {
    std::string msg = e.what();
    throwJs(env, classifyTorchMessage(msg), withOperands(a, msg));
  } catch (...) {
    throwJs(env, "ERR_TORCH", withOperands(a, "unknown native error"));
  }
  return nullptr;
}

}  // namespace smae
