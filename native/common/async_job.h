// One Promise-returning native call: `run` on a libuv worker thread, then `done` (optional) on the JS
// thread to build the resolved value. Used by the media decoder (native/media/media_ops.cc) and the
// distributed collectives (native/distributed/dist_ops.cc). No exception leaves either step: a throw on a
// worker thread, or while building the result, would terminate the process; each one rejects the Promise
// with a coded error instead.
#pragma once
#include <node_api.h>

#include <functional>
#include <string>

#include "args.h"

namespace smae {

struct AsyncJob {
  std::function<void()> run;
  std::function<napi_value(napi_env)> done;
  /** Code of errors that carry none (a std::exception, a cancelled job): e.g. ERR_MEDIA, ERR_DIST. */
  std::string fallbackCode;
  /** Prefix messages with the op's name ("distAllReduce: ..."). */
  bool prefixOp = false;
};

/** Queues `job` on libuv's pool; returns its Promise. Throws ERR_* (fallbackCode) when it cannot be queued. */
napi_value queueAsync(Args& a, AsyncJob job);

}  // namespace smae
