// Module entry: creates the per-environment state and registers every area's ops (native/*/*.cc
// register themselves through SMAE_OP). Nothing else lives here.
#include <node_api.h>

#include "common/args.h"
#include "common/handles.h"

static napi_value Init(napi_env env, napi_value exports) {
  // Each function carries this environment's state as its data pointer: no instance-data lookup per
  // call, and no process-global table (workers each get their own functions and state).
  smae::EnvState* st = smae::initState(env);
  for (const smae::OpDef& op : smae::registry()) {
    napi_value fn;
    napi_create_function(env, op.name, NAPI_AUTO_LENGTH, op.fn, st, &fn);
    napi_set_named_property(env, exports, op.name, fn);
  }
  return exports;
}

NAPI_MODULE_INIT() { return Init(env, exports); }
