// torch.distributed's engine, c10d, driven without N-API: a TCPStore rendezvous, a process group
// (ProcessGroupGloo on CPU tensors; ProcessGroupNCCL in CUDA builds) and collectives whose completion is
// awaited separately (Collective::wait), so a binding can start one on the JS thread and wait for it on
// another thread. The store layout is Python's `init_process_group` (distributed_c10d.py in torch 1.13):
// TCPStore [+ torchelastic prefix] -> PrefixStore("default_pg") -> PrefixStore("0") for the group, a
// store-based barrier on "store_based_barrier_key:1", then the group's sequence number from rank 0 — so
// a Python rank and a Node rank can join one group.
//
// Only this file's .cc includes c10d's headers (heavy); callers see opaque types.
#pragma once
#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace smae {
namespace dist {

struct GroupConfig {
  std::string backend;  // 'gloo' | 'nccl'
  std::string host;     // the TCPStore's address (MASTER_ADDR)
  int port = 29500;     // MASTER_PORT
  int rank = 0;
  int worldSize = 1;
  bool isServer = false;                  // this process hosts the TCPStore (rank 0 unless torchelastic's agent does)
  int64_t timeoutMs = 1800000;            // store, rendezvous and per-collective timeout
  std::vector<std::string> storePrefixes;  // applied before "default_pg" (torchelastic: "/worker/attempt_N")
};

/** One in-flight collective. */
class Collective {
 public:
  virtual ~Collective() = default;
  /** Blocks until done (no fork gate held while waiting), in short slices so that `abort` (set when the
   *  process exits) ends the wait. Throws JsError: ERR_DIST_TIMEOUT after `timeoutMs`, ERR_DIST_PEER when
   *  a peer went away, ERR_DIST_ABORTED after `abort`, ERR_DIST otherwise. */
  virtual void wait(int64_t timeoutMs, const std::atomic<bool>* abort) = 0;
};

class Group {
 public:
  /** Blocking: creates the store, joins the rendezvous, connects the group. Throws JsError. */
  static std::shared_ptr<Group> create(const GroupConfig& cfg);
  ~Group();

  int rank() const;
  int worldSize() const;
  const std::string& backend() const;
  int64_t timeoutMs() const;

  /** op: 'sum' | 'avg' | 'product' | 'min' | 'max' ('avg' is sum then divide where the backend lacks it). */
  std::unique_ptr<Collective> allReduce(std::vector<at::Tensor> tensors, const std::string& op);
  std::unique_ptr<Collective> broadcast(std::vector<at::Tensor> tensors, int root);
  /** outputs[k] receives rank k's `input`. */
  std::unique_ptr<Collective> allGather(std::vector<at::Tensor> outputs, at::Tensor input);
  /** output = reduction over ranks of inputs[rank] (not supported by Gloo in torch 1.13: ERR_UNSUPPORTED). */
  std::unique_ptr<Collective> reduceScatter(at::Tensor output, std::vector<at::Tensor> inputs, const std::string& op);
  std::unique_ptr<Collective> barrier();

  struct Impl;

 private:
  explicit Group(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/** Which backends this build has ('gloo', 'nccl'). */
std::vector<std::string> availableBackends();

}  // namespace dist
}  // namespace smae
