// See async_job.h.
#include "async_job.h"

#include <c10/util/Exception.h>

#include <memory>
#include <new>

#include "errors.h"

namespace smae {

namespace {

struct Pending {
  AsyncJob job;
  std::string op;
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  std::string code, message;  // set when the job failed

  void fail(const std::string& c, const std::string& m) {
    code = c;
    message = job.prefixOp ? op + ": " + m : m;
  }
  /** Runs `f`, turning whatever it throws into this job's error. */
  template <typename F>
  void guard(F&& f) {
    try {
      f();
    } catch (const JsError& e) {
      fail(e.code, e.what());
    } catch (const c10::Error& e) {
      fail(classifyTorchError(e), e.what_without_backtrace());
    } catch (const std::bad_alloc&) {
      fail("ERR_OOM", "out of memory");
    } catch (const std::exception& e) {
      fail(job.fallbackCode, e.what());
    } catch (...) {
      fail(job.fallbackCode, "unknown native error");
    }
  }
};

void execute(napi_env, void* data) {
  Pending* p = static_cast<Pending*>(data);
  p->guard([p] { p->job.run(); });
}

void complete(napi_env env, napi_status status, void* data) {
  std::unique_ptr<Pending> p(static_cast<Pending*>(data));
  if (status == napi_cancelled && p->code.empty()) p->fail(p->job.fallbackCode, "cancelled");
  napi_value value = nullptr;
  if (p->code.empty() && p->job.done) p->guard([&] { value = p->job.done(env); });
  if (p->code.empty()) {
    if (!value) napi_get_undefined(env, &value);
    napi_resolve_deferred(env, p->deferred, value);
  } else {
    napi_reject_deferred(env, p->deferred, makeJsError(env, p->code, p->message));
  }
  napi_delete_async_work(env, p->work);
}

}  // namespace

napi_value queueAsync(Args& a, AsyncJob job) {
  auto p = std::make_unique<Pending>();
  p->job = std::move(job);
  p->op = a.op;
  napi_value promise, name;
  napi_create_promise(a.env, &p->deferred, &promise);
  napi_create_string_utf8(a.env, a.op, NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(a.env, nullptr, name, execute, complete, p.get(), &p->work);
  if (napi_queue_async_work(a.env, p->work) != napi_ok) {
    napi_delete_async_work(a.env, p->work);
    throw JsError(p->job.fallbackCode, "could not queue async work");
  }
  p.release();  // owned by complete()
  return promise;
}

}  // namespace smae
