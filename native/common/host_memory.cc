// See host_memory.h. The cgroup is found from /proc/self/cgroup; its directory is looked up under the
// usual mount points (/sys/fs/cgroup for v2, /sys/fs/cgroup/unified in hybrid mode,
// /sys/fs/cgroup/memory for v1). In a container whose cgroup namespace hides the path, the limit of the
// mount root itself is read (that is the container's own cgroup). Every ancestor's limit counts: a child
// cgroup without its own limit is still bounded by its parent's.
#include "host_memory.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace smae {
namespace {

bool isDir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

/** Reads a limit file: a byte count, or "max" (v2, unlimited). 0 when absent or unlimited. */
size_t readLimit(const std::string& file) {
  std::ifstream in(file);
  std::string s;
  if (!(in >> s) || s == "max") return 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  return end && *end == '\0' ? static_cast<size_t>(v) : 0;
}

/** The smallest limit on `path` and its ancestors under `root`; 0 when none. */
size_t limitOnPath(const std::string& root, std::string path, const char* file) {
  if (!isDir(root)) return 0;
  if (!isDir(root + path)) path = "/";
  size_t best = 0;
  for (;;) {
    size_t v = readLimit(root + (path == "/" ? "" : path) + "/" + file);
    if (v > 0 && (best == 0 || v < best)) best = v;
    if (path == "/" || path.empty()) break;
    size_t slash = path.find_last_of('/');
    path = slash == 0 ? "/" : path.substr(0, slash);
  }
  return best;
}

HostMemoryLimit compute() {
  if (const char* env = std::getenv("SOCIAL_MAE_MAX_ALLOC_BYTES")) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(env, &end, 10);
    if (end && *end == '\0' && v > 0) return {static_cast<size_t>(v), "SOCIAL_MAE_MAX_ALLOC_BYTES"};
  }
  HostMemoryLimit out{static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGESIZE)), "physical memory"};
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    // "hierarchy-id:controllers:path"; v2 is "0::path".
    size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    size_t v = 0;
    std::string kind;
    if (controllers.empty()) {
      std::string root = isDir("/sys/fs/cgroup/unified") ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup";
      v = limitOnPath(root, path, "memory.max");
      kind = "cgroup v2 ";
    } else if (("," + controllers + ",").find(",memory,") != std::string::npos) {
      v = limitOnPath("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes");
      kind = "cgroup v1 ";
    }
    if (v > 0 && v < out.bytes) out = {v, kind + path};
  }
  return out;
}

}  // namespace

const HostMemoryLimit& hostMemoryLimit() {
  static const HostMemoryLimit limit = compute();
  return limit;
}

}  // namespace smae
