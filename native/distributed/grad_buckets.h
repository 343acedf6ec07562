// Gradient buckets for DDP (lib/distributed/ddp.ts), reduced while backward still runs: a post hook on
// each parameter's gradient accumulator marks it ready; when every parameter of the next bucket in order
// is ready, the bucket's gradients are flattened and its all-reduce ('avg') is started on the backend's
// threads, and backward goes on. `finish` (called off the JS thread, without the fork gate while it
// waits) starts the buckets not started yet (a parameter without a gradient contributes zeros), waits for
// all, and writes the averages back into the gradients. Buckets start strictly in order on every rank
// (collectives are matched by order), as PyTorch's Reducer does. No N-API here.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "process_group.h"

namespace torch {
namespace autograd {
struct Node;
}
}  // namespace torch

namespace smae {
namespace dist {

class GradBuckets {
 public:
  /** `buckets[k]` = indices into `params` (leaf tensors requiring grad). Registers the hooks. */
  GradBuckets(std::shared_ptr<Group> group, std::vector<at::Tensor> params, std::vector<std::vector<size_t>> buckets);
  /** Removes the hooks. */
  ~GradBuckets();
  GradBuckets(const GradBuckets&) = delete;
  GradBuckets& operator=(const GradBuckets&) = delete;

  /** While disabled (noSync), backward starts nothing and gradients only accumulate. */
  void setEnabled(bool on);
  /** Buckets whose all-reduce has started since the last finish (the overlap with backward, observable). */
  size_t started();
  /** Starts what is left, waits (at most timeoutMs per bucket), writes averaged gradients, resets. Throws JsError. */
  void finish(int64_t timeoutMs, const std::atomic<bool>* abort);

 private:
  struct Bucket {
    std::vector<size_t> params;
    size_t ready = 0;
    at::Tensor flat;
    std::unique_ptr<Collective> work;
  };
  void onReady(size_t param);
  /** Starts buckets in order from `next_` while complete (or all of them when `all`). Caller holds mu_. */
  void launch(bool all);

  std::shared_ptr<Group> group_;
  std::vector<at::Tensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucketOf_;
  std::vector<bool> marked_;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
  std::vector<uintptr_t> hookKeys_;
  std::mutex mu_;
  size_t next_ = 0;
  bool enabled_ = true;
  bool twice_ = false;  // a parameter became ready twice before finish (backward ran twice)
};

}  // namespace dist
}  // namespace smae
