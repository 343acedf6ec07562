// N-API bindings of torch.distributed (process_group.h). Everything that blocks — rendezvous, waiting
// for a collective, tearing a group down — runs as napi async work on a libuv worker thread and settles
// a Promise, so the event loop lives while peers are slow. The JS thread only starts a collective
// (c10d queues it on the backend's own threads) inside the usual native call; the worker thread waits
// WITHOUT the fork gate (a fork elsewhere must not wait for a peer), taking it only for tensor math.
// Tensors given to a collective are written in place by the backend until its Promise settles.
//
// Groups live in a process-wide table keyed by id (c10d groups are process resources, not per-isolate);
// each remembers its environment and is dropped when that environment is torn down.
#include <functional>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "../common/args.h"
#include "../common/async_job.h"
#include "../common/fork_gate.h"
#include "grad_buckets.h"
#include "process_group.h"

using smae::Args;
using smae::JsError;
using smae::dist::Collective;
using smae::dist::Group;

namespace {

struct Entry {
  std::shared_ptr<Group> group;
  napi_env env;
};
std::mutex tableMutex;
std::map<int64_t, Entry> groups;
std::set<napi_env> hooked;  // environments with dropEnvGroups registered (a second registration aborts Node)
int64_t nextId = 1;
/** DDP gradient bucket sets (grad_buckets.h), same id space and lifetime rules as groups. */
struct BucketsEntry {
  std::shared_ptr<smae::dist::GradBuckets> buckets;
  napi_env env;
};
std::map<int64_t, BucketsEntry> bucketSets;
/** Per environment: set by distShutdown (process 'exit'), ends the waits of its collectives. */
std::map<napi_env, std::shared_ptr<std::atomic<bool>>> exiting;

std::shared_ptr<std::atomic<bool>> exitFlag(napi_env env) {
  std::lock_guard<std::mutex> lk(tableMutex);
  auto& f = exiting[env];
  if (!f) f = std::make_shared<std::atomic<bool>>(false);
  return f;
}

std::shared_ptr<Group> groupArg(Args& a, size_t i) {
  int64_t id = a.i64(i);
  std::lock_guard<std::mutex> lk(tableMutex);
  auto it = groups.find(id);
  if (it == groups.end() || it->second.env != a.env)
    throw JsError("ERR_DIST_NOT_INITIALIZED", "process group " + std::to_string(id) + " was destroyed or never created");
  return it->second.group;
}

/**
 * Environment teardown (process.exit, a worker ending): the environment's groups are dropped from the
 * table but deliberately never destroyed. Destroying a c10d group joins its backend threads, which waits
 * for a collective in flight — until a peer answers or the timeout (30 min by default): the exit would
 * hang. The process (or worker) is going away; its sockets close with it.
 */
void dropEnvGroups(void* env) {
  static auto* leaked = new std::vector<std::shared_ptr<void>>();  // never freed, on purpose (see above)
  std::lock_guard<std::mutex> lk(tableMutex);
  hooked.erase(static_cast<napi_env>(env));
  for (auto it = bucketSets.begin(); it != bucketSets.end();) {
    if (it->second.env != env) {
      ++it;
      continue;
    }
    leaked->push_back(it->second.buckets);
    it = bucketSets.erase(it);
  }
  for (auto it = groups.begin(); it != groups.end();) {
    if (it->second.env != env) {
      ++it;
      continue;
    }
    leaked->push_back(it->second.group);
    it = groups.erase(it);
  }
}

int64_t timeoutArg(Args& a, size_t i) {
  int64_t ms = a.i64(i);
  if (ms <= 0) throw JsError("ERR_INVALID_ARG", "argument " + std::to_string(i) + ": timeoutMs must be > 0, got " + std::to_string(ms));
  return ms;
}

/** Waits for a started collective off the JS thread. */
napi_value awaitCollective(Args& a, std::shared_ptr<Group> g, std::unique_ptr<Collective> c, int64_t timeoutMs) {
  smae::AsyncJob job;
  job.fallbackCode = "ERR_DIST";
  job.prefixOp = true;
  std::shared_ptr<Collective> held(std::move(c));
  auto abort = exitFlag(a.env);
  job.run = [g, held, timeoutMs, abort] { held->wait(timeoutMs, abort.get()); };
  return smae::queueAsync(a, std::move(job));
}

}  // namespace

/** distBackends() -> backends of this build */
SMAE_OP(distBackends) {
  auto names = smae::dist::availableBackends();
  napi_value arr;
  napi_create_array_with_length(a.env, names.size(), &arr);
  for (size_t k = 0; k < names.size(); k++) napi_set_element(a.env, arr, k, a.retString(names[k]));
  return arr;
}

/** distInit(backend, host, port, rank, worldSize, isServer, timeoutMs, storePrefixes[]) -> Promise<group id> */
SMAE_OP(distInit) {
  smae::dist::GroupConfig cfg;
  cfg.backend = a.s(0);
  cfg.host = a.s(1);
  cfg.port = static_cast<int>(a.i64(2));
  cfg.rank = static_cast<int>(a.i64(3));
  cfg.worldSize = static_cast<int>(a.i64(4));
  cfg.isServer = a.b(5);
  cfg.timeoutMs = timeoutArg(a, 6);
  uint32_t n = 0;
  bool isArr = false;
  napi_is_array(a.env, a.argv[7], &isArr);
  if (!isArr) a.fail(7, "an array of strings");
  napi_get_array_length(a.env, a.argv[7], &n);
  for (uint32_t k = 0; k < n && k < 16; k++) {
    napi_value v = a.element(7, k);
    size_t len;
    if (napi_get_value_string_utf8(a.env, v, nullptr, 0, &len) != napi_ok) a.fail(7, "an array of strings");
    std::string s(len, '\0');
    napi_get_value_string_utf8(a.env, v, s.data(), len + 1, &len);
    cfg.storePrefixes.push_back(s);
  }
  smae::AsyncJob job;
  job.fallbackCode = "ERR_DIST";
  job.prefixOp = true;
  auto made = std::make_shared<std::shared_ptr<Group>>();
  napi_env env = a.env;
  job.run = [cfg, made] { *made = Group::create(cfg); };
  job.done = [made, env](napi_env e) {
    int64_t id;
    {
      std::lock_guard<std::mutex> lk(tableMutex);
      if (hooked.insert(env).second) napi_add_env_cleanup_hook(env, dropEnvGroups, env);
      id = nextId++;
      groups[id] = Entry{*made, env};
    }
    napi_value v;
    napi_create_double(e, static_cast<double>(id), &v);
    return v;
  };
  return smae::queueAsync(a, std::move(job));
}

/** distShutdown(): this environment is exiting — waiting collectives give up at once (ERR_DIST_ABORTED),
 *  so that Node's exit, which joins the libuv worker threads, does not wait for a peer or a timeout. */
SMAE_OP(distShutdown) {
  exitFlag(a.env)->store(true);
  return a.undefined();
}

/** distInfo(group) -> [rank, worldSize, backend, timeoutMs] */
SMAE_OP(distInfo) {
  auto g = groupArg(a, 0);
  napi_value arr;
  napi_create_array_with_length(a.env, 4, &arr);
  napi_set_element(a.env, arr, 0, a.retNumber(g->rank()));
  napi_set_element(a.env, arr, 1, a.retNumber(g->worldSize()));
  napi_set_element(a.env, arr, 2, a.retString(g->backend()));
  napi_set_element(a.env, arr, 3, a.retNumber(static_cast<double>(g->timeoutMs())));
  return arr;
}

/** distDestroy(group) -> Promise<void>: waits (off the JS thread) for the group's queued work to drain. */
SMAE_OP(distDestroy) {
  int64_t id = a.i64(0);
  std::shared_ptr<Group> g;
  {
    std::lock_guard<std::mutex> lk(tableMutex);
    auto it = groups.find(id);
    if (it != groups.end() && it->second.env == a.env) {
      g = it->second.group;
      groups.erase(it);
    }
  }
  smae::AsyncJob job;
  job.fallbackCode = "ERR_DIST";
  job.prefixOp = true;
  auto holder = std::make_shared<std::shared_ptr<Group>>(std::move(g));
  job.run = [holder] { holder->reset(); };
  return smae::queueAsync(a, std::move(job));
}

/** distAllReduce(group, tensors[], op, timeoutMs) -> Promise<void>; tensors are reduced in place */
SMAE_OP(distAllReduce) {
  auto g = groupArg(a, 0);
  auto ts = a.tensors(1);
  int64_t ms = timeoutArg(a, 3);
  return awaitCollective(a, g, g->allReduce(ts, a.s(2)), ms);
}

/** distBroadcast(group, tensors[], src, timeoutMs) -> Promise<void> */
SMAE_OP(distBroadcast) {
  auto g = groupArg(a, 0);
  auto ts = a.tensors(1);
  int64_t ms = timeoutArg(a, 3);
  return awaitCollective(a, g, g->broadcast(ts, static_cast<int>(a.i64(2))), ms);
}

/** distAllGather(group, outputs[], input, timeoutMs) -> Promise<void>; outputs[k] receives rank k's input */
SMAE_OP(distAllGather) {
  auto g = groupArg(a, 0);
  auto outs = a.tensors(1);
  at::Tensor in = a.t(2);
  int64_t ms = timeoutArg(a, 3);
  return awaitCollective(a, g, g->allGather(outs, in), ms);
}

/**
 * distAllGatherSync(group, outputs[], input, timeoutMs): the all-gather, waited for ON the JS thread (for
 * a synchronous forward: lib/distributed/gather.ts). The fork gate is held only while the collective is
 * started, not while it waits; the wait gives up after timeoutMs (ERR_DIST_TIMEOUT) or when a peer went
 * away (ERR_DIST_PEER), as the Promise-returning collectives.
 */
SMAE_OP_UNGATED(distAllGatherSync) {
  std::shared_ptr<Group> g;
  std::unique_ptr<Collective> c;
  int64_t ms;
  {
    smae::SharedSection gate;
    g = groupArg(a, 0);
    auto outs = a.tensors(1);
    at::Tensor in = a.t(2);
    ms = timeoutArg(a, 3);
    c = g->allGather(outs, in);
  }
  c->wait(ms, exitFlag(a.env).get());
  return a.undefined();
}

/** distReduceScatter(group, output, inputs[], op, timeoutMs) -> Promise<void> */
SMAE_OP(distReduceScatter) {
  auto g = groupArg(a, 0);
  at::Tensor out = a.t(1);
  auto ins = a.tensors(2);
  int64_t ms = timeoutArg(a, 4);
  return awaitCollective(a, g, g->reduceScatter(out, ins, a.s(3)), ms);
}

/** distBarrier(group, timeoutMs) -> Promise<void> */
SMAE_OP(distBarrier) {
  auto g = groupArg(a, 0);
  int64_t ms = timeoutArg(a, 1);
  return awaitCollective(a, g, g->barrier(), ms);
}

// ---- DDP gradient buckets (grad_buckets.h) ----

namespace {
std::shared_ptr<smae::dist::GradBuckets> bucketsArg(Args& a, size_t i) {
  int64_t id = a.i64(i);
  std::lock_guard<std::mutex> lk(tableMutex);
  auto it = bucketSets.find(id);
  if (it == bucketSets.end() || it->second.env != a.env)
    throw JsError("ERR_INVALID_STATE", "gradient buckets " + std::to_string(id) + " were disposed");
  return it->second.buckets;
}
}  // namespace

/** distGradBuckets(group, params[], indices[], sizes[]) -> id: bucket k holds params[indices[sum(sizes[<k]) ..]] */
SMAE_OP(distGradBuckets) {
  auto g = groupArg(a, 0);
  auto params = a.tensors(1);
  auto idx = a.ints(2);
  auto sizes = a.ints(3);
  std::vector<std::vector<size_t>> buckets;
  size_t off = 0;
  for (int64_t n : sizes) {
    if (n < 0 || off + n > idx.size()) throw JsError("ERR_INVALID_ARG", "distGradBuckets: bucket sizes do not match the indices");
    std::vector<size_t> b;
    for (int64_t k = 0; k < n; k++) {
      if (idx[off + k] < 0) throw JsError("ERR_INVALID_ARG", "distGradBuckets: negative parameter index");
      b.push_back(static_cast<size_t>(idx[off + k]));
    }
    off += n;
    buckets.push_back(std::move(b));
  }
  auto set = std::make_shared<smae::dist::GradBuckets>(g, params, buckets);
  std::lock_guard<std::mutex> lk(tableMutex);
  int64_t id = nextId++;
  bucketSets[id] = BucketsEntry{set, a.env};
  if (hooked.insert(a.env).second) napi_add_env_cleanup_hook(a.env, dropEnvGroups, a.env);
  return a.retNumber(static_cast<double>(id));
}

/** distGradBucketsEnable(id, on): off = noSync (backward starts no reduction) */
SMAE_OP(distGradBucketsEnable) {
  bucketsArg(a, 0)->setEnabled(a.b(1));
  return a.undefined();
}

/** distGradBucketsStarted(id) -> buckets started since the last finish */
SMAE_OP(distGradBucketsStarted) { return a.retNumber(static_cast<double>(bucketsArg(a, 0)->started())); }

/** distGradBucketsFinish(id, timeoutMs) -> Promise<void>: gradients averaged across ranks */
SMAE_OP(distGradBucketsFinish) {
  auto set = bucketsArg(a, 0);
  int64_t ms = timeoutArg(a, 1);
  smae::AsyncJob job;
  job.fallbackCode = "ERR_DIST";
  job.prefixOp = true;
  auto abort = exitFlag(a.env);
  job.run = [set, ms, abort] { set->finish(ms, abort.get()); };
  return smae::queueAsync(a, std::move(job));
}

/** distGradBucketsFree(id): removes the hooks (idempotent) */
SMAE_OP(distGradBucketsFree) {
  int64_t id = a.i64(0);
  std::shared_ptr<smae::dist::GradBuckets> set;
  {
    std::lock_guard<std::mutex> lk(tableMutex);
    auto it = bucketSets.find(id);
    if (it != bucketSets.end() && it->second.env == a.env) {
      set = it->second.buckets;
      bucketSets.erase(it);
    }
  }
  return a.retBool(set != nullptr);
}
