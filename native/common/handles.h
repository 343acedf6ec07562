// Per-environment tensor handle table and scope stack (docs/ARCHITECTURE.md, "Tensor representation").
// A JS tensor is a number: slot index in the low 24 bits, slot generation above. A stale or forged
// id fails the generation check and becomes a JS error, never a dangling reference.
#pragma once
#include <ATen/core/Tensor.h>
#include <node_api.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace smae {

struct Slot {
  at::Tensor tensor;
  uint32_t gen = 0;
  bool live = false;
  bool kept = false;  // excluded from scope cleanup (parameters, optimizer state, torch.keep)
};

/** State owned by one Node environment (main thread or a worker), held in napi instance data. */
struct EnvState {
  std::vector<Slot> slots;
  std::vector<uint32_t> freeList;
  std::vector<std::vector<double>> scopes;  // ids created while each scope was open
  size_t compactAt = 4096;                   // innermost scope size that triggers dropping dead ids
  size_t live = 0;
  int64_t reportedBytes = 0;  // host bytes last reported to V8 (napi_adjust_external_memory)
  napi_ref errorClass = nullptr;
  // TorchScript modules loaded in this environment (native/jit; type-erased to keep this header lean).
  std::vector<std::shared_ptr<void>> jitModules;
};

EnvState& state(napi_env env);
/** Creates this environment's state (freed with the environment) and returns it. */
EnvState* initState(napi_env env);

/** Registers a tensor; it joins the innermost open scope. Returns its id. */
double insert(EnvState& s, at::Tensor t);
/** The tensor behind an id; throws ERR_TENSOR_DISPOSED for a freed, stale or forged id. */
at::Tensor& lookup(EnvState& s, double id);
/** Whether an id refers to a live tensor. */
bool isLive(const EnvState& s, double id);
/** Frees an id. Returns false (and does nothing) when it is not live. */
bool release(EnvState& s, double id);
/** Marks an id as kept: scopes no longer free it. */
void keep(EnvState& s, double id);

void beginScope(EnvState& s);
/** Closes the innermost scope, freeing what it created except `survivors` (moved to the parent). */
void endScope(EnvState& s, const std::vector<double>& survivors);

/** Bytes held by live tensors (each storage once), split by host and CUDA. */
struct MemoryUse {
  size_t liveTensors = 0;
  int64_t hostBytes = 0;
  int64_t cudaBytes = 0;
};
MemoryUse memoryUse(const EnvState& s);

}  // namespace smae
