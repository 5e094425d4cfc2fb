// SPDX-License-Identifier: MIT
// corio/detail/thread_pool.hpp: the worker threads behind to_thread.
#pragma once

#include <corio/detail/intrusive_fifo.hpp>
#include <corio/detail/remote_queue.hpp>

#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

namespace corio::detail {

// A call to run on a worker. run() executes there; the job then travels back
// through the loop's remote_queue and deliver() runs on the loop's thread.
class thread_job : public remote_node {
 public:
  using run_fn = void (*)(thread_job*) noexcept;
  thread_job(run_fn run_on_worker, deliver_fn deliver_on_loop) noexcept
      : remote_node(deliver_on_loop), run_(run_on_worker) {}
  void run() noexcept { run_(this); }

 private:
  friend class thread_pool;
  run_fn run_;
  thread_job* next_job_ = nullptr;  // in the pool's queue
};

class thread_pool {
 public:
  // `warn_after`: how long the destructor waits before it says what it waits for.
  thread_pool(unsigned threads, remote_queue& done,
              std::chrono::milliseconds warn_after = std::chrono::seconds(5))
      : done_(done), warn_after_(warn_after), thread_count_(std::max(threads, 1u)) {
    threads_.reserve(threads);
    // The workers start with every asynchronous signal blocked (a thread
    // inherits its creator's mask), so a signal sent to the process never
    // lands on one: it reaches wait_signal, run()'s Ctrl-C handling, or a
    // thread of the program's own.
    sigset_t all;
    sigfillset(&all);
    for (const int sync : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS})
      sigdelset(&all, sync);
    sigset_t before;
    ::pthread_sigmask(SIG_BLOCK, &all, &before);
    try {
      for (unsigned i = 0; i < threads; ++i)
        threads_.emplace_back([this] { work(); });
    } catch (...) {
      ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
      stop();
      throw;
    }
    ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
  }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  // Waits for the jobs already running and those still queued; if that takes
  // longer than `warn_after`, says so on stderr once and waits on (a thread
  // cannot be stopped safely, and its job may still touch the loop's memory).
  // asyncio 3.12's shutdown_default_executor warns the same way.
  ~thread_pool() {
    flush();
    {
      std::unique_lock lock(mutex_);
      if (!drained_.wait_for(lock, warn_after_, [this] { return running_ == 0 && jobs_.empty(); }))
        std::fprintf(stderr, "corio: run() is waiting for %zu to_thread call(s) still running\n",
                     running_ + jobs_.size());
    }
    stop();
  }

  // Loop thread: queues `job` for the next flush().
  void submit(thread_job* job) noexcept { pending_.push(*job); }
  // Loop thread: takes `job` back if no worker has taken it yet (true); it
  // then never runs and is never delivered. A scan of the queue: for
  // cancellations, not for the calls' own path.
  bool withdraw(thread_job* job) noexcept {
    if (pending_.erase(*job))
      return true;
    std::lock_guard lock(mutex_);
    return jobs_.erase(*job);
  }

  // Loop thread, once per loop turn: hands every job submitted since the last
  // flush to the workers under one lock, waking at most one idle worker per
  // job (a wake-up costs a futex call and a cross-core switch).
  void flush() {
    if (pending_.empty())
      return;
    const std::size_t n = pending_.size();
    std::size_t wake;
    {
      std::lock_guard lock(mutex_);
      jobs_.splice(pending_);
      wake = std::min<std::size_t>(n, idle_);
    }
    for (std::size_t i = 0; i < wake; ++i)
      work_available_.notify_one();
  }
  std::size_t size() const noexcept { return threads_.size(); }

  // Loop thread, for the loop's statistics: the calls no worker has taken
  // yet, and those a worker has taken (running, or next in its batch).
  struct job_counts {
    std::size_t queued = 0;
    std::size_t running = 0;
  };
  job_counts counts() {
    std::lock_guard lock(mutex_);
    return {pending_.size() + jobs_.size(), running_};
  }

  // The default pool: one thread per CPU this thread may run on (its affinity
  // mask, so `taskset -c 0` gives one), at most 32. Not Python's cores + 4:
  // corio does file and socket I/O on its ring, so to_thread is mostly for
  // CPU work and short blocking calls, and on 2 cores a pool of 6 ran 100,000
  // trivial calls 3-4x slower than a pool of 1 or 2 (bench/README.md, W4b).
  // Programs that park many calls in blocking I/O ask for more threads.
  static unsigned default_size() noexcept {
    cpu_set_t set;
    CPU_ZERO(&set);
    int cpus = 0;
    if (::sched_getaffinity(0, sizeof set, &set) == 0)
      cpus = CPU_COUNT(&set);
    if (cpus <= 0)
      cpus = static_cast<int>(std::thread::hardware_concurrency());
    return static_cast<unsigned>(std::clamp(cpus, 1, 32));
  }

 private:
  // The pool's queues of jobs, linked through the jobs: queueing one allocates nothing.
  using job_fifo = intrusive_fifo<thread_job, &thread_job::next_job_>;

  // Each worker takes its share of the queue at once (the queued jobs divided
  // by the pool's threads, rounded up: all of them with one thread), runs
  // them and hands their results to the loop as one batch: one lock, one
  // atomic exchange on the loop's inbox and at most one eventfd write per
  // batch, not per call. A result therefore waits for the calls before it in
  // its batch; a batch has more than one call only when calls outnumber the
  // threads, that is when they would queue anyway.
  void work() noexcept {
    std::unique_lock lock(mutex_);
    for (;;) {
      while (jobs_.empty() && !stopping_) {
        ++idle_;
        work_available_.wait(lock);
        --idle_;
      }
      if (jobs_.empty())
        return;  // stopping, and nothing left to do
      const std::size_t share = (jobs_.size() + thread_count_ - 1) / thread_count_;
      job_fifo mine;
      for (std::size_t i = 0; i < share; ++i)
        mine.push(*jobs_.pop());
      running_ += share;
      lock.unlock();
      remote_batch results;
      while (!mine.empty()) {
        thread_job* job = mine.pop();
        job->run();
        results.add(job);
      }
      done_.push(results);
      lock.lock();
      running_ -= share;
      if (running_ == 0 && jobs_.empty())
        drained_.notify_all();  // with no waiter (only the destructor waits), no system call
    }
  }
  void stop() noexcept {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    work_available_.notify_all();
    for (std::thread& t : threads_)
      t.join();
    threads_.clear();
  }

  // Data that does not change once initialised.
  remote_queue& done_;
  std::chrono::milliseconds warn_after_;
  const std::size_t thread_count_;
  std::vector<std::thread> threads_;
  // Data shared between the loop and the workers, guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable work_available_;
  std::condition_variable drained_;  // running_ reached 0 with no job queued
  job_fifo jobs_;
  std::size_t running_ = 0;
  unsigned idle_ = 0;
  bool stopping_ = false;
  // Data only the loop's thread touches.
  job_fifo pending_;
};

}  // namespace corio::detail
