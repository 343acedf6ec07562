// See host_cache.h.
#include "host_cache.h"

namespace smae {

size_t hostCacheClass(size_t n) {
  size_t pow2 = size_t(1) << (63 - __builtin_clzll(static_cast<unsigned long long>(n)));
  size_t step = pow2 / 8 > 4096 ? pow2 / 8 : 4096;
  return (n + step - 1) / step * step;
}

void* HostBlockCache::take(size_t cls) {
  std::lock_guard<std::mutex> lock(mu_);
  auto range = bySize_.equal_range(cls);
  if (range.first == range.second) {
    misses_++;
    return nullptr;
  }
  auto last = std::prev(range.second);
  void* p = last->second->p;
  lru_.erase(last->second);
  bySize_.erase(last);
  cachedBytes_ -= cls;
  hits_++;
  return p;
}

void HostBlockCache::evictOverCap(std::vector<void*>& evicted) {
  while (cachedBytes_ > cap_ && !lru_.empty()) {
    const Block& b = lru_.front();
    auto range = bySize_.equal_range(b.cls);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == lru_.begin()) {
        bySize_.erase(it);
        break;
      }
    }
    cachedBytes_ -= b.cls;
    evicted.push_back(b.p);
    evictions_++;
    lru_.pop_front();
  }
}

void HostBlockCache::put(void* p, size_t cls, std::vector<void*>& evicted) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cls > cap_) {
    evicted.push_back(p);
    return;
  }
  lru_.push_back({p, cls});
  bySize_.emplace(cls, std::prev(lru_.end()));
  cachedBytes_ += cls;
  evictOverCap(evicted);
}

void HostBlockCache::configure(size_t cap, size_t minBytes, std::string source, std::vector<void*>& evicted) {
  std::lock_guard<std::mutex> lock(mu_);
  cap_ = cap;
  minBytes_.store(minBytes, std::memory_order_relaxed);
  source_ = std::move(source);
  evictOverCap(evicted);
}

HostCacheStats HostBlockCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {true, cap_, minBytes(), cachedBytes_, lru_.size(), hits_, misses_, evictions_, source_};
}

}  // namespace smae
