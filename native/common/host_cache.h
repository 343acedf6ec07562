// A cache of freed large host blocks, for the CPU allocator of tensor/alloc_guard.cc. glibc serves a large
// request (above its dynamic mmap threshold, 128 KiB to 32 MiB) with a fresh mmap and unmaps it on free,
// so every large tensor a data-path op creates pays a page fault per 4 KiB page when first written (the
// fbank of 10 s of audio: ~1800 faults, 3/4 of its CPU). Kept blocks are reused with their pages mapped.
// Bounded: at most `cap` bytes kept, the oldest freed block evicted first; cap 0 keeps nothing. Only blocks of
// at least `minBytes` are kept (default 128 KiB, glibc's default mmap threshold).
// Thread-safe (one mutex): worker threads, libuv threads and LibTorch's pool all allocate and free.
// No N-API, no LibTorch: the allocator owns the memory, this class only keeps pointers.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace smae {

/** glibc's default mmap threshold: requests below it come from the heap without fresh pages. */
constexpr size_t kGlibcMmapThreshold = size_t(128) << 10;

/** The size class of a cached request n: n rounded up to a multiple of a step, 4 KiB or 1/8 of
 *  the power of two at or below n, whichever is larger (8 classes per doubling, at most 12.5 % unused). */
size_t hostCacheClass(size_t n);

struct HostCacheStats {
  bool installed;       // false where the allocator is not wrapped (LibTorch 2.x builds)
  size_t capBytes;      // the most kept
  size_t minBytes;      // the smallest block kept
  size_t cachedBytes;   // kept now
  size_t cachedBlocks;  // kept now
  uint64_t hits;        // large requests served from the cache
  uint64_t misses;      // large requests given new memory
  uint64_t evictions;   // kept blocks returned to the system (cap exceeded or lowered)
  std::string source;   // where the cap came from
};

class HostBlockCache {
 public:
  HostBlockCache(size_t cap, size_t minBytes, std::string source) : cap_(cap), minBytes_(minBytes), source_(std::move(source)) {}
  /** The smallest request that is cached (read without the lock, on every allocation). */
  size_t minBytes() const { return minBytes_.load(std::memory_order_relaxed); }
  /** A kept block of class cls (the most recently freed, its pages warmest) or nullptr; counts a hit or miss. */
  void* take(size_t cls);
  /** Keeps block p of class cls. Appends to `evicted` the blocks the caller must free: the oldest until the
   *  kept bytes fit the cap, or p itself when it alone exceeds the cap. */
  void put(void* p, size_t cls, std::vector<void*>& evicted);
  /** Changes the cap and the smallest block kept; appends the blocks to free (oldest first) to `evicted`. */
  void configure(size_t cap, size_t minBytes, std::string source, std::vector<void*>& evicted);
  HostCacheStats stats() const;

 private:
  struct Block {
    void* p;
    size_t cls;
  };
  void evictOverCap(std::vector<void*>& evicted);  // mu_ held

  mutable std::mutex mu_;
  size_t cap_;
  std::atomic<size_t> minBytes_;
  std::string source_;
  std::list<Block> lru_;                                    // oldest freed first
  std::multimap<size_t, std::list<Block>::iterator> bySize_;  // same class: insertion order
  size_t cachedBytes_ = 0;
  uint64_t hits_ = 0, misses_ = 0, evictions_ = 0;
};

/** The process's cache (nullptr where the allocator is not wrapped) and its stats. */
HostBlockCache* hostBlockCache();
HostCacheStats hostCacheStats();
/** Sets the cap and the smallest block kept; returns false where no cache is installed. Frees what no longer
 *  fits (blocks below a raised minimum stay until evicted). */
bool setHostCacheBytes(size_t cap, size_t minBytes);

}  // namespace smae
