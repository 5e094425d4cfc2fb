// SPDX-License-Identifier: MIT
// corio/detail/thread_pool.hpp: the worker threads behind to_thread.
#pragma once

#include <corio/detail/remote_queue.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <deque>
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
  run_fn run_;
};

class thread_pool {
 public:
  // `warn_after`: how long the destructor waits before it says what it waits for.
  thread_pool(unsigned threads, remote_queue& done,
              std::chrono::milliseconds warn_after = std::chrono::seconds(5))
      : done_(done), warn_after_(warn_after) {
    threads_.reserve(threads);
    try {
      for (unsigned i = 0; i < threads; ++i)
        threads_.emplace_back([this] { work(); });
    } catch (...) {
      stop();
      throw;
    }
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
  void submit(thread_job* job) { pending_.push_back(job); }

  // Loop thread, once per loop turn: hands every job submitted since the last
  // flush to the workers under one lock, waking at most one idle worker per
  // job (a wake-up costs a futex call and a cross-core switch).
  void flush() {
    if (pending_.empty())
      return;
    std::size_t wake;
    {
      std::lock_guard lock(mutex_);
      jobs_.insert(jobs_.end(), pending_.begin(), pending_.end());
      wake = std::min<std::size_t>(pending_.size(), idle_);
    }
    pending_.clear();
    for (std::size_t i = 0; i < wake; ++i)
      work_available_.notify_one();
  }
  std::size_t size() const noexcept { return threads_.size(); }

 private:
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
      thread_job* job = jobs_.front();
      jobs_.pop_front();
      ++running_;
      lock.unlock();
      job->run();
      done_.push(job);
      lock.lock();
      if (--running_ == 0 && jobs_.empty())
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
  std::vector<std::thread> threads_;
  // Data shared between the loop and the workers, guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable work_available_;
  std::condition_variable drained_;  // running_ reached 0 with no job queued
  std::deque<thread_job*> jobs_;
  std::size_t running_ = 0;
  unsigned idle_ = 0;
  bool stopping_ = false;
  // Data only the loop's thread touches.
  std::vector<thread_job*> pending_;
};

}  // namespace corio::detail
