// SPDX-License-Identifier: MIT
#include <corio/detail/thread_pool.hpp>

#include <corio/detail/remote_queue.hpp>

#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace {

struct counting_job : corio::detail::thread_job {
  counting_job() : thread_job(&on_run, &on_deliver) {}
  static void on_run(thread_job* self) noexcept {
    auto& j = *static_cast<counting_job*>(self);
    j.ran_on = std::this_thread::get_id();
    j.runs->fetch_add(1);
  }
  static void on_deliver(corio::detail::remote_node* self) noexcept {
    ++*static_cast<counting_job*>(self)->delivered;
  }
  std::atomic<int>* runs = nullptr;
  int* delivered = nullptr;
  std::thread::id ran_on;
};

// Blocks until `parties` jobs are inside at once (or 10 s pass): only a pool
// that runs them concurrently lets all of them through in time.
struct meeting {
  std::mutex mutex;
  std::condition_variable all_here;
  int inside = 0;
  int parties = 0;
  std::atomic<int> met{0};
};
struct meeting_job : corio::detail::thread_job {
  meeting_job() : thread_job(&on_run, &on_deliver) {}
  static void on_run(thread_job* self) noexcept {
    meeting& m = *static_cast<meeting_job*>(self)->where;
    std::unique_lock lock(m.mutex);
    if (++m.inside == m.parties)
      m.all_here.notify_all();
    if (m.all_here.wait_for(lock, std::chrono::seconds(10), [&] { return m.inside == m.parties; }))
      m.met.fetch_add(1);
  }
  static void on_deliver(corio::detail::remote_node*) noexcept {}
  meeting* where = nullptr;
};

}  // namespace

TEST_CASE("thread_pool: jobs handed over together still run one per worker",
          "[thread_pool][threads]") {
  corio::detail::remote_queue done;
  meeting m;
  m.parties = 4;
  std::vector<meeting_job> jobs(4);
  {
    corio::detail::thread_pool pool(4, done);
    for (meeting_job& j : jobs) {
      j.where = &m;
      pool.submit(&j);
    }
    pool.flush();  // one batch: no worker may take two of them
  }
  CHECK(m.met == 4);
  CHECK(done.deliver_all() == 4);
}

TEST_CASE("thread_pool: runs every job on a worker and posts it to the remote queue",
          "[thread_pool][threads]") {
  corio::detail::remote_queue done;
  std::atomic<int> runs{0};
  int delivered = 0;
  constexpr int n = 1000;
  std::vector<counting_job> jobs(n);
  {
    corio::detail::thread_pool pool(4, done);
    CHECK(pool.size() == 4);
    for (counting_job& j : jobs) {
      j.runs = &runs;
      j.delivered = &delivered;
      pool.submit(&j);
    }
  }  // the destructor waits for queued and running jobs
  CHECK(runs == n);
  CHECK(done.deliver_all() == n);
  CHECK(delivered == n);
  bool all_on_workers = true;
  for (const counting_job& j : jobs)
    all_on_workers = all_on_workers && j.ran_on != std::this_thread::get_id();
  CHECK(all_on_workers);
}

TEST_CASE("thread_pool: an idle pool is destroyed at once, joining its threads",
          "[thread_pool][threads]") {
  corio::detail::remote_queue done;
  { corio::detail::thread_pool pool(8, done); }
  CHECK(done.deliver_all() == 0);
}
