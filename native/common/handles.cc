#include "handles.h"

#include <algorithm>
#include <unordered_set>

#include "errors.h"

namespace smae {

namespace {
constexpr double kSlotSpan = 16777216.0;  // 2^24 slots
constexpr uint32_t kSlotMask = 0xFFFFFF;

void finalizeState(napi_env, void* data, void*) { delete static_cast<EnvState*>(data); }

bool decode(const EnvState& s, double id, uint32_t& slot) {
  if (!(id >= 0) || id > 9007199254740991.0 || id != static_cast<double>(static_cast<uint64_t>(id))) return false;
  uint64_t v = static_cast<uint64_t>(id);
  slot = static_cast<uint32_t>(v & kSlotMask);
  uint64_t gen = v >> 24;
  return slot < s.slots.size() && s.slots[slot].live && s.slots[slot].gen == gen;
}

void freeSlot(EnvState& s, uint32_t slot) {
  Slot& sl = s.slots[slot];
  sl.tensor = at::Tensor();
  sl.live = false;
  sl.kept = false;
  sl.gen++;
  s.freeList.push_back(slot);
  s.live--;
}
}  // namespace

EnvState* initState(napi_env env) {
  auto* s = new EnvState();
  napi_set_instance_data(env, s, finalizeState, nullptr);
  return s;
}

EnvState& state(napi_env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  return *static_cast<EnvState*>(data);
}

double insert(EnvState& s, at::Tensor t) {
  uint32_t slot;
  if (!s.freeList.empty()) {
    slot = s.freeList.back();
    s.freeList.pop_back();
  } else {
    if (s.slots.size() > kSlotMask) throw JsError("ERR_TOO_MANY_TENSORS", "more than 16M live tensors: dispose or tidy them");
    slot = static_cast<uint32_t>(s.slots.size());
    s.slots.emplace_back();
  }
  Slot& sl = s.slots[slot];
  sl.tensor = std::move(t);
  sl.live = true;
  sl.kept = false;
  s.live++;
  double id = static_cast<double>(sl.gen) * kSlotSpan + slot;
  if (!s.scopes.empty()) {
    std::vector<double>& scope = s.scopes.back();
    // A long loop that disposes its results inside one scope would otherwise grow the scope's id
    // list without bound: drop the dead ids now and then (amortised O(1) per insertion).
    if (scope.size() >= s.compactAt) {
      size_t w = 0;
      for (double x : scope) {
        uint32_t sl;
        if (decode(s, x, sl)) scope[w++] = x;
      }
      scope.resize(w);
      s.compactAt = std::max<size_t>(4096, 2 * w);
    }
    scope.push_back(id);
  }
  return id;
}

bool isLive(const EnvState& s, double id) {
  uint32_t slot;
  return decode(s, id, slot);
}

at::Tensor& lookup(EnvState& s, double id) {
  uint32_t slot;
  if (!decode(s, id, slot)) throw JsError("ERR_TENSOR_DISPOSED", "tensor was disposed (or the id is not a live tensor)");
  return s.slots[slot].tensor;
}

bool release(EnvState& s, double id) {
  uint32_t slot;
  if (!decode(s, id, slot)) return false;
  freeSlot(s, slot);
  return true;
}

void keep(EnvState& s, double id) {
  uint32_t slot;
  if (!decode(s, id, slot)) throw JsError("ERR_TENSOR_DISPOSED", "keep: tensor was disposed");
  s.slots[slot].kept = true;
}

void beginScope(EnvState& s) { s.scopes.emplace_back(); }

void endScope(EnvState& s, const std::vector<double>& survivors) {
  if (s.scopes.empty()) throw JsError("ERR_SCOPE", "endScope without an open scope");
  std::vector<double> ids = std::move(s.scopes.back());
  s.scopes.pop_back();
  std::unordered_set<double> keepSet(survivors.begin(), survivors.end());
  for (double id : ids) {
    uint32_t slot;
    if (!decode(s, id, slot)) continue;
    if (keepSet.count(id)) {
      if (!s.scopes.empty() && !s.slots[slot].kept) s.scopes.back().push_back(id);
      continue;
    }
    if (!s.slots[slot].kept) freeSlot(s, slot);
  }
}

MemoryUse memoryUse(const EnvState& s) {
  MemoryUse m;
  m.liveTensors = s.live;
  std::unordered_set<const void*> seen;
  for (const Slot& sl : s.slots) {
    if (!sl.live || !sl.tensor.defined() || !sl.tensor.has_storage()) continue;
    const auto& st = sl.tensor.storage();
    if (!seen.insert(st.unsafeGetStorageImpl()).second) continue;
    int64_t n = static_cast<int64_t>(st.nbytes());
    if (sl.tensor.is_cuda()) m.cudaBytes += n; else m.hostBytes += n;
  }
  return m;
}

}  // namespace smae
