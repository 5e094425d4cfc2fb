// SPDX-License-Identifier: MIT
// corio/detail/wait_list.hpp: the FIFO of tasks waiting on a primitive
// (event, mutex, semaphore, queue), and the primitives' loop-affinity check.
#pragma once

#include <corio/config.hpp>
#include <corio/error.hpp>
#include <corio/task.hpp>
#include <corio/detail/loop_core.hpp>

#include <corio/detail/cancellation.hpp>
#include <corio/detail/intrusive_list.hpp>
#include <corio/detail/wait_info.hpp>

#include <coroutine>
#include <thread>

namespace corio::detail {

// Primitives belong to the thread that first uses them (the thread of its
// loop; run() may be called there again, with a new loop, and reuse them).
// Using one from another thread is a programmer error, reported in debug
// builds, and in release builds while a loop runs in debug mode
// (debug_checks_on()).
class loop_affinity {
 public:
  void check(const char* who) {
    if (debug_checks_on()) [[unlikely]]  // kept out of line in release builds
      check_owner(who);
  }
  // The same check in a destructor (a guard's), which cannot throw: aborts.
  void check_noexcept(const char* who) noexcept {
    if (debug_checks_on()) [[unlikely]]
      check_owner_noexcept(who);
  }

 private:
  [[gnu::noinline]] void check_owner(const char* who) {
    if (!owned_by_this_thread())
      assertion_failed("owner == this thread", who);
  }
  [[gnu::noinline]] void check_owner_noexcept(const char* who) noexcept {
    if (!owned_by_this_thread())
      fatal_misuse("owner == this thread", who);
  }
  bool owned_by_this_thread() noexcept {
    const std::thread::id me = std::this_thread::get_id();
    if (owner_ == std::thread::id())
      owner_ = me;
    return owner_ == me;
  }

  std::thread::id owner_;
};

// A task parked on a primitive. Waking it hands it what it waited for (the
// primitive does that before calling wake()); cancelling it removes it from
// the list, so a cancelled waiter never receives, and so never loses, anything.
class waiter : public list_hook, public suspension {
 public:
  waiter() noexcept : suspension(hooks_of<&on_cancel, &describe>) {}

  // Parks the task on `list`; false if a pending cancellation is due instead.
  template <class Promise>
  bool park(std::coroutine_handle<Promise> h, intrusive_list<waiter>& list) {
    loop_ = &loop_core::current();
    if (begin(h))
      return false;
    list_ = &list;
    list.push_back(*this);
    suspension::park();
    return true;
  }
  // Called by the primitive after removing this waiter from its list.
  void wake() noexcept { suspension::wake(*loop_); }
  void throw_if_cancelled() const {
    if (cancel_requested())
      throw cancelled_error();
  }

 protected:
  // described_by<&describe> (below), or for a waiter that does more than leave
  // its list when cancelled, its own hooks_of<&on_cancel, &describe>.
  explicit waiter(const hooks& h) noexcept : suspension(h) {}
  // Moves this waiter, parked and off any list, to the back of `list`.
  void requeue(intrusive_list<waiter>& list) noexcept {
    list_ = &list;
    list.push_back(*this);
  }
  void leave_list() noexcept { list_->erase(*this); }
  bool cancelled() const noexcept { return cancel_requested(); }
  // In await_resume after a wake(): a cancellation requested between the wake
  // and now is delivered here (true), so the waiter must give back what it was
  // handed before throwing.
  bool take_cancel_after_wake() noexcept {
    if (cancel_requested() || context() == nullptr || !context()->take_pending_cancel())
      return false;
    set_cancel_requested();
    return true;
  }

 private:
  static void describe(const suspension&, wait_info& info) {
    info.what = "wait on a synchronisation primitive";
  }
  static void on_cancel(cancellable* self) noexcept {
    auto& w = *static_cast<waiter*>(self);
    w.list_->erase(w);
    w.wake();
  }

  loop_core* loop_ = nullptr;
  intrusive_list<waiter>* list_ = nullptr;

 protected:
  // The hooks of a waiter whose `Describe` says which primitive and which
  // wait (queue get, ...): waiter(described_by<&describe>). Declared after
  // on_cancel, which it names.
  template <describe_fn Describe>
  static constexpr const hooks& described_by = hooks_of<&on_cancel, Describe>;
};

// A primitive's list of parked waiters. Destroying it while tasks are still
// linked would leave them parked on freed memory (a later cancel or wake-up
// writes into it), so debug builds abort with the reason instead.
class wait_list : public intrusive_list<waiter> {
 public:
  wait_list() noexcept = default;
  ~wait_list() {
    CORIO_ASSERT_NOEXCEPT(empty(),
                          "corio: an event, mutex, semaphore, queue, condition or barrier was "
                          "destroyed while tasks still wait on it; it must outlive its waiters");
  }
};

}  // namespace corio::detail
