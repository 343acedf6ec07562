#include "grad_buckets.h"

#include <ATen/ATen.h>
#include <algorithm>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "../common/errors.h"
#include "../common/fork_gate.h"

namespace smae {
namespace dist {

GradBuckets::GradBuckets(std::shared_ptr<Group> group, std::vector<at::Tensor> params, std::vector<std::vector<size_t>> buckets)
    : group_(std::move(group)), params_(std::move(params)), bucketOf_(params_.size(), SIZE_MAX), marked_(params_.size(), false) {
  for (size_t b = 0; b < buckets.size(); b++) {
    Bucket bk;
    bk.params = buckets[b];
    for (size_t p : bk.params) {
      if (p >= params_.size() || bucketOf_[p] != SIZE_MAX)
        throw JsError("ERR_INVALID_ARG", "gradient buckets: parameter index " + std::to_string(p) + " is out of range or in two buckets");
      bucketOf_[p] = b;
    }
    buckets_.push_back(std::move(bk));
  }
  for (size_t p = 0; p < params_.size(); p++) {
    const at::Tensor& t = params_[p];
    if (bucketOf_[p] == SIZE_MAX) throw JsError("ERR_INVALID_ARG", "gradient buckets: parameter " + std::to_string(p) + " is in no bucket");
    if (!t.requires_grad() || !t.is_leaf())
      throw JsError("ERR_INVALID_ARG", "gradient buckets: parameter " + std::to_string(p) + " is not a leaf tensor requiring grad");
  }
  for (size_t p = 0; p < params_.size(); p++) {
    // The accumulator is held weakly by the tensor: keep it, or the hook would vanish with it.
    auto acc = torch::autograd::impl::grad_accumulator(params_[p]);
    hookKeys_.push_back(acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
        [this, p](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
          onReady(p);
          return outputs;
        })));
    accumulators_.push_back(std::move(acc));
  }
}

GradBuckets::~GradBuckets() {
  for (size_t p = 0; p < accumulators_.size(); p++) accumulators_[p]->del_post_hook(hookKeys_[p]);
}

void GradBuckets::setEnabled(bool on) {
  std::lock_guard<std::mutex> lk(mu_);
  enabled_ = on;
}

size_t GradBuckets::started() {
  std::lock_guard<std::mutex> lk(mu_);
  return next_;
}

void GradBuckets::onReady(size_t p) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!enabled_) return;
  if (marked_[p]) {
    twice_ = true;
    return;
  }
  marked_[p] = true;
  buckets_[bucketOf_[p]].ready++;
  launch(false);
}

void GradBuckets::launch(bool all) {
  at::NoGradGuard ng;
  for (; next_ < buckets_.size(); next_++) {
    Bucket& b = buckets_[next_];
    if (!all && b.ready < b.params.size()) return;
    std::vector<at::Tensor> parts;
    parts.reserve(b.params.size());
    for (size_t p : b.params) {
      const at::Tensor& g = params_[p].grad();
      parts.push_back(g.defined() ? g.reshape({-1}) : at::zeros({params_[p].numel()}, params_[p].options()));
    }
    b.flat = at::cat(parts);
    b.work = group_->allReduce({b.flat}, "avg");
  }
}

void GradBuckets::finish(int64_t timeoutMs, const std::atomic<bool>* abort) {
  std::lock_guard<std::mutex> lk(mu_);
  struct Reset {
    GradBuckets* self;
    ~Reset() {
      for (auto& b : self->buckets_) {
        b.ready = 0;
        b.flat = at::Tensor();
        b.work.reset();
      }
      std::fill(self->marked_.begin(), self->marked_.end(), false);
      self->next_ = 0;
      self->twice_ = false;
    }
  } reset{this};
  {
    SharedSection g;  // tensor math (common/fork_gate.h)
    launch(true);
  }
  for (auto& b : buckets_) b.work->wait(timeoutMs, abort);  // no fork gate while waiting
  if (twice_)
    throw JsError("ERR_INVALID_STATE",
                  "DDP: backward ran more than once since the last gradient sync (use noSync for gradient accumulation)");
  SharedSection g;
  at::NoGradGuard ng;
  for (auto& b : buckets_) {
    int64_t off = 0;
    for (size_t p : b.params) {
      at::Tensor& param = params_[p];
      at::Tensor piece = b.flat.narrow(0, off, param.numel()).view(param.sizes());
      off += param.numel();
      at::Tensor& grad = param.mutable_grad();
      if (grad.defined()) grad.copy_(piece);
      else grad = piece.clone();
    }
  }
}

}  // namespace dist
}  // namespace smae
