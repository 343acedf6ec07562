// c10d process groups (see process_group.h). Built with torch's own flags: USE_C10D_GLOO when Gloo's
// headers are present, USE_C10D_NCCL in CUDA builds with NCCL (scripts/torch-flags.js); without them
// every entry point throws ERR_UNSUPPORTED naming what the build lacks.
#include "process_group.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "../common/errors.h"
#include "../common/fork_gate.h"

#if defined(USE_C10D_GLOO) || defined(USE_C10D_NCCL)
#define SMAE_HAS_C10D 1
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if SMAE_TORCH_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#endif
#endif
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace smae {
namespace dist {

namespace {

bool has(const std::string& s, const char* needle) { return s.find(needle) != std::string::npos; }

/** c10d / Gloo / TCPStore messages -> our codes. */
const char* classify(const std::string& m) {
  if (has(m, "does not support") || has(m, "Cannot use ReduceOp")) return "ERR_UNSUPPORTED";
  if (has(m, "invalid tensor type")) return "ERR_DTYPE";
  if (has(m, "invalid tensor size") || has(m, "invalid tensor shape")) return "ERR_SHAPE_MISMATCH";
  if (has(m, "timed out") || has(m, "Timed out") || has(m, "timeout") || has(m, "Timeout")) return "ERR_DIST_TIMEOUT";
  if (has(m, "closed by peer") || has(m, "reset by peer") || has(m, "Connection refused") || has(m, "Broken pipe") ||
      has(m, "Connection closed") || has(m, "EOF") || has(m, "peer"))
    return "ERR_DIST_PEER";
  return "ERR_DIST";
}

/** Runs `fn`, turning c10 / std exceptions into JsError with a dist code and `what` as context. */
template <typename F>
auto guarded(const std::string& what, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const JsError&) {
    throw;
  } catch (const c10::Error& e) {
    std::string m = e.what_without_backtrace();
    throw JsError(classify(m), what + ": " + m);
  } catch (const std::exception& e) {
    std::string m = e.what();
    throw JsError(classify(m), what + ": " + m);
  }
}

[[noreturn]] void noBackend(const std::string& backend) {
  throw JsError("ERR_UNSUPPORTED", "backend '" + backend + "' is not in this build (available: " +
                                       [] {
                                         std::string s;
                                         for (auto& b : availableBackends()) s += (s.empty() ? "" : ", ") + b;
                                         return s.empty() ? std::string("none") : s;
                                       }() +
                                       "; Gloo needs Gloo's headers at build time (Debian: libgloo-dev), NCCL a CUDA LibTorch)");
}

}  // namespace

std::vector<std::string> availableBackends() {
  std::vector<std::string> out;
#ifdef USE_C10D_GLOO
  out.push_back("gloo");
#endif
#ifdef USE_C10D_NCCL
  out.push_back("nccl");
#endif
  return out;
}

#ifdef SMAE_HAS_C10D

// LibTorch 2.x made ProcessGroupGloo / ProcessGroupNCCL c10d::Backend subclasses (a ProcessGroup now
// dispatches to backends); 1.13's are ProcessGroups. Both bases carry the same collectives.
#if SMAE_TORCH_MAJOR >= 2
using PgBase = c10d::Backend;
#else
using PgBase = c10d::ProcessGroup;
#endif

struct Group::Impl {
  GroupConfig cfg;
  c10::intrusive_ptr<c10d::Store> store;  // PrefixStore("default_pg") over the TCPStore
  c10::intrusive_ptr<PgBase> pg;
};

namespace {

/** A started c10d Work; 'avg' divides the reduced tensors by the world size once they are summed. */
class WorkCollective : public Collective {
 public:
  WorkCollective(std::string what, c10::intrusive_ptr<c10d::Work> work, std::vector<at::Tensor> divide, int world)
      : what_(std::move(what)), work_(std::move(work)), divide_(std::move(divide)), world_(world) {}
  void wait(int64_t timeoutMs, const std::atomic<bool>* abort) override {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
      if (abort && abort->load()) throw JsError("ERR_DIST_ABORTED", what_ + ": abandoned, the process is exiting");
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      try {
        work_->wait(std::max(std::chrono::milliseconds(1), std::min(left, std::chrono::milliseconds(50))));
        break;  // done (NCCL: ordered on the current stream)
      } catch (const std::exception&) {
        // Either this slice elapsed (c10::Error) or the work itself failed (c10::Error or Gloo's
        // IoException; then it is completed: report its error, classified).
        if (work_->isCompleted()) guarded(what_, [&] { return work_->wait(); });
        if (std::chrono::steady_clock::now() >= deadline)
          throw JsError("ERR_DIST_TIMEOUT", what_ + ": timed out after " + std::to_string(timeoutMs) + " ms (a peer did not take part)");
      }
    }
    if (divide_.empty()) return;
    SharedSection g;  // tensor math: no fork while it runs (common/fork_gate.h)
    for (auto& t : divide_) t.div_(world_);
  }

 private:
  std::string what_;
  c10::intrusive_ptr<c10d::Work> work_;
  std::vector<at::Tensor> divide_;
  int world_;
};

c10d::ReduceOp reduceOp(const std::string& op) {
  if (op == "sum" || op == "avg") return c10d::ReduceOp::SUM;
  if (op == "product") return c10d::ReduceOp::PRODUCT;
  if (op == "min") return c10d::ReduceOp::MIN;
  if (op == "max") return c10d::ReduceOp::MAX;
  throw JsError("ERR_INVALID_ARG", "op: expected 'sum', 'avg', 'product', 'min' or 'max', got '" + op + "'");
}

/** Python's _store_based_barrier: every rank adds 1 to the key, then polls until it reaches world size. */
void storeBarrier(c10d::Store& store, int world, int64_t timeoutMs) {
  const std::string key = "store_based_barrier_key:1";
  store.add(key, 1);
  auto start = std::chrono::steady_clock::now();
  while (store.add(key, 0) != world) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (std::chrono::steady_clock::now() - start > std::chrono::milliseconds(timeoutMs))
      throw JsError("ERR_DIST_TIMEOUT", "initProcessGroup: timed out after " + std::to_string(timeoutMs) +
                                            " ms in the store-based barrier (not every rank joined)");
  }
}

#ifdef USE_C10D_GLOO
c10::intrusive_ptr<PgBase> makeGloo(const c10::intrusive_ptr<c10d::Store>& store, const GroupConfig& cfg) {
  auto opts = c10d::ProcessGroupGloo::Options::create(std::chrono::milliseconds(cfg.timeoutMs));
  // As torch.distributed: GLOO_SOCKET_IFNAME (comma-separated interfaces) or the host's default device.
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  if (ifname && *ifname) {
    std::stringstream ss(ifname);
    std::string iface;
    while (std::getline(ss, iface, ','))
      if (!iface.empty()) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
  }
  if (opts->devices.empty()) opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  opts->threads = static_cast<int>(opts->devices.size()) * 2;
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, cfg.rank, cfg.worldSize, opts);
}
#endif

#ifdef USE_C10D_NCCL
c10::intrusive_ptr<PgBase> makeNccl(const c10::intrusive_ptr<c10d::Store>& store, const GroupConfig& cfg) {
  auto opts = c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = std::chrono::milliseconds(cfg.timeoutMs);
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, cfg.rank, cfg.worldSize, opts);
}
#endif

}  // namespace

std::shared_ptr<Group> Group::create(const GroupConfig& cfg) {
  auto impl = std::make_unique<Impl>();
  impl->cfg = cfg;
  auto timeout = std::chrono::milliseconds(cfg.timeoutMs);
  const std::string where = "initProcessGroup(" + cfg.backend + ", rank " + std::to_string(cfg.rank) + "/" +
                            std::to_string(cfg.worldSize) + ", " + cfg.host + ":" + std::to_string(cfg.port) + ")";
  guarded(where, [&] {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(cfg.port);
    so.isServer = cfg.isServer;
    so.numWorkers = static_cast<std::size_t>(cfg.worldSize);
    so.waitWorkers = true;
    so.timeout = timeout;
    so.multiTenant = true;  // as torch.distributed.rendezvous (_create_c10d_store)
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(cfg.host, so);
    for (const auto& p : cfg.storePrefixes) store = c10::make_intrusive<c10d::PrefixStore>(p, store);
    store = c10::make_intrusive<c10d::PrefixStore>("default_pg", store);
    auto groupStore = c10::make_intrusive<c10d::PrefixStore>("0", store);
    c10::intrusive_ptr<PgBase> pg;
#ifdef USE_C10D_GLOO
    if (cfg.backend == "gloo") pg = makeGloo(groupStore, cfg);
#endif
#ifdef USE_C10D_NCCL
    if (cfg.backend == "nccl") pg = makeNccl(groupStore, cfg);
#endif
    if (!pg) noBackend(cfg.backend);
    storeBarrier(*store, cfg.worldSize, cfg.timeoutMs);
    pg->setSequenceNumberForGroup();
    impl->store = store;
    impl->pg = pg;
    return 0;
  });
  return std::shared_ptr<Group>(new Group(std::move(impl)));
}

std::unique_ptr<Collective> Group::allReduce(std::vector<at::Tensor> tensors, const std::string& op) {
  c10d::AllreduceOptions o;
  o.reduceOp = reduceOp(op);
  if (op == "avg")
    for (auto& t : tensors)
      if (!t.is_floating_point()) throw JsError("ERR_DTYPE", "allReduce: op 'avg' needs floating point tensors");
  auto work = guarded("allReduce", [&] { return impl_->pg->allreduce(tensors, o); });
  return std::make_unique<WorkCollective>("allReduce", work, op == "avg" ? tensors : std::vector<at::Tensor>{}, worldSize());
}

std::unique_ptr<Collective> Group::broadcast(std::vector<at::Tensor> tensors, int root) {
  if (root < 0 || root >= worldSize())
    throw JsError("ERR_INVALID_ARG", "broadcast: src must be a rank in [0, " + std::to_string(worldSize()) + "), got " + std::to_string(root));
  c10d::BroadcastOptions o;
  o.rootRank = root;
  auto work = guarded("broadcast", [&] { return impl_->pg->broadcast(tensors, o); });
  return std::make_unique<WorkCollective>("broadcast", work, std::vector<at::Tensor>{}, worldSize());
}

std::unique_ptr<Collective> Group::allGather(std::vector<at::Tensor> outputs, at::Tensor input) {
  if (static_cast<int>(outputs.size()) != worldSize())
    throw JsError("ERR_INVALID_ARG", "allGather: expected " + std::to_string(worldSize()) + " output tensors (one per rank), got " +
                                         std::to_string(outputs.size()));
  std::vector<std::vector<at::Tensor>> outs{outputs};
  std::vector<at::Tensor> ins{input};
  auto work = guarded("allGather", [&] { return impl_->pg->allgather(outs, ins); });
  return std::make_unique<WorkCollective>("allGather", work, std::vector<at::Tensor>{}, worldSize());
}

std::unique_ptr<Collective> Group::reduceScatter(at::Tensor output, std::vector<at::Tensor> inputs, const std::string& op) {
  if (static_cast<int>(inputs.size()) != worldSize())
    throw JsError("ERR_INVALID_ARG", "reduceScatter: expected " + std::to_string(worldSize()) + " input tensors (one per rank), got " +
                                         std::to_string(inputs.size()));
  c10d::ReduceScatterOptions o;
  o.reduceOp = reduceOp(op);
  std::vector<at::Tensor> outs{output};
  std::vector<std::vector<at::Tensor>> ins{inputs};
  auto work = guarded("reduceScatter", [&] { return impl_->pg->reduce_scatter(outs, ins, o); });
  return std::make_unique<WorkCollective>("reduceScatter", work, op == "avg" ? outs : std::vector<at::Tensor>{}, worldSize());
}

std::unique_ptr<Collective> Group::barrier() {
  auto work = guarded("barrier", [&] { return impl_->pg->barrier(c10d::BarrierOptions()); });
  return std::make_unique<WorkCollective>("barrier", work, std::vector<at::Tensor>{}, worldSize());
}

#else  // no c10d backend in this build

struct Group::Impl {
  GroupConfig cfg;
};
std::shared_ptr<Group> Group::create(const GroupConfig& cfg) { noBackend(cfg.backend); }
std::unique_ptr<Collective> Group::allReduce(std::vector<at::Tensor>, const std::string&) { noBackend(backend()); }
std::unique_ptr<Collective> Group::broadcast(std::vector<at::Tensor>, int) { noBackend(backend()); }
std::unique_ptr<Collective> Group::allGather(std::vector<at::Tensor>, at::Tensor) { noBackend(backend()); }
std::unique_ptr<Collective> Group::reduceScatter(at::Tensor, std::vector<at::Tensor>, const std::string&) { noBackend(backend()); }
std::unique_ptr<Collective> Group::barrier() { noBackend(backend()); }

#endif

// Both Impl definitions above hold the group's config.
Group::Group(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Group::~Group() = default;
int Group::rank() const { return impl_->cfg.rank; }
int Group::worldSize() const { return impl_->cfg.worldSize; }
const std::string& Group::backend() const { return impl_->cfg.backend; }
int64_t Group::timeoutMs() const { return impl_->cfg.timeoutMs; }

}  // namespace dist
}  // namespace smae
