// The fork gate (see fork_gate.h for why). A counter of native calls in flight (`active`) and of
// exclusive holders waiting or holding (`closing`); a mutex + condition variable only on the slow path.
#include "fork_gate.h"

#include "errors.h"

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

namespace smae {

namespace {
std::atomic<int> active{0};   // native calls in flight on all threads
std::atomic<int> closing{0};  // exclusive sections pending or held
std::mutex m;
std::condition_variable cv;
thread_local int depth = 0;          // nesting of SharedSection on this thread
thread_local bool forkHeld = false;  // this thread's prepare handler closed the gate

/** Wake waiters after a state change; taking the mutex orders the notify after their check. */
void wake() {
  std::lock_guard<std::mutex> lk(m);
  cv.notify_all();
}

void leaveShared() {
  // seq_cst: pairs with close()'s increment of `closing` then read of `active` (Dekker-style).
  if (active.fetch_sub(1) == 1 && closing.load() > 0) wake();
}

void enterShared() {
  for (;;) {
    active.fetch_add(1);
    if (closing.load() == 0) return;
    leaveShared();  // a fork or exclusive section is pending: step back and wait for it
    std::unique_lock<std::mutex> lk(m);
    cv.wait(lk, [] { return closing.load() == 0; });
  }
}

void close() {
  closing.fetch_add(1);
  std::unique_lock<std::mutex> lk(m);
  cv.wait(lk, [] { return active.load() == 0; });
}

void open() {
  if (closing.fetch_sub(1) == 1) wake();
}

void prepareFork() {
  if (depth > 0) return;  // forking from inside a native call: waiting would wait for ourselves
  close();
  forkHeld = true;
}

void parentAfterFork() {
  if (!forkHeld) return;
  forkHeld = false;
  open();
}

void childAfterFork() {
  // Only the forking thread exists in the child; it held the gate with no call in flight. Reset without
  // touching the mutex or condition variable (other threads of the parent may have been waiting on them).
  forkHeld = false;
  closing.store(0);
  active.store(depth);
}

/** Registered when the addon is loaded, hence after OpenBLAS's handler: our prepare runs before it. */
const int registered = pthread_atfork(prepareFork, parentAfterFork, childAfterFork);
}  // namespace

SharedSection::SharedSection() {
  if (depth++ == 0) enterShared();
}

SharedSection::~SharedSection() {
  if (--depth == 0) leaveShared();
}

ExclusiveSection::ExclusiveSection() {
  (void)registered;
  // Inside a native call of this thread (a JS callback re-entering the addon) the wait would never end.
  if (depth > 0) throw JsError("ERR_INVALID_STATE", "cannot run while another native call of this thread is in progress");
  close();
}

ExclusiveSection::~ExclusiveSection() { open(); }

}  // namespace smae
