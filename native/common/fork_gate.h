// The fork gate: no fork() happens while a native call (and so a BLAS call) is running on any thread.
//
// Why: OpenBLAS (Debian's libblas.so.3) registers a pthread_atfork prepare handler that shuts its
// thread pool down (blas_thread_shutdown_: pthread_join on every pool thread). If another thread is
// inside a BLAS call at that moment, a pool thread can miss the shutdown request and the join waits
// forever: the process deadlocks in fork(). Node starts child processes (ffmpeg, ffprobe) with fork()
// from whichever thread calls child_process.spawn, e.g. a data-loader worker while the main thread runs
// a training step. Reproduced in test/native/fork_gate.test.ts (hangs without this gate).
//
// How: every native call (smae::invoke) is a *shared* section; a fork is an *exclusive* one. Our
// prepare handler is registered when the addon loads, i.e. after OpenBLAS's (registered by its library
// constructor), and glibc runs prepare handlers in reverse order of registration: ours runs first and
// waits until no native call is in flight (new calls wait at the gate), so OpenBLAS's shutdown always
// meets an idle pool. The parent and child handlers open the gate again.
//
// Cost: two atomic read-modify-writes per native call when no fork is pending (bench/ops_dispatch.ts).
// A nested native call on the same thread (a JS callback re-entering the addon) passes without waiting,
// and a fork from inside a native call does not wait for itself.
#pragma once

namespace smae {

/** Holds the gate shared for the lifetime of one native call (RAII; re-entrant per thread). */
class SharedSection {
 public:
  SharedSection();
  ~SharedSection();
  SharedSection(const SharedSection&) = delete;
  SharedSection& operator=(const SharedSection&) = delete;
};

/** Holds the gate exclusively: no native call runs on another thread meanwhile. For process-wide
 *  changes that racing BLAS calls must not see (resizing OpenBLAS's pool). Not re-entrant; must not be
 *  taken inside a SharedSection of the same thread (use invokeExclusive for such ops). */
class ExclusiveSection {
 public:
  ExclusiveSection();
  ~ExclusiveSection();
  ExclusiveSection(const ExclusiveSection&) = delete;
  ExclusiveSection& operator=(const ExclusiveSection&) = delete;
};

}  // namespace smae
