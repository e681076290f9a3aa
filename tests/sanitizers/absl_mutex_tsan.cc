// ThreadSanitizer builds only (QVDB_SANITIZE=thread; docs/testing.md):
// makes Debian's absl::Mutex and absl::CondVar visible to TSan.
//
// Debian's libabsl is not built with -fsanitize=thread, so its Mutex takes
// and releases the lock with atomics TSan never sees: every access our code
// guards with an absl::Mutex would be reported as a race (two threads
// incrementing a counter under absl::MutexLock are reported). An
// instrumented abseil annotates its Mutex with __tsan_mutex_* calls; this
// file does the same from outside. Linked into every test of a TSan build
// (cmake/QvdbHelpers.cmake), its definitions come before the shared
// library's in symbol lookup, so every call (ours, gRPC's, abseil's own
// through its PLT) lands here, is annotated, and goes on to the real
// function found with dlsym(RTLD_NEXT). Nothing is suppressed: TSan then
// checks our code against the real lock order.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/synchronization/mutex.h"

namespace {

#define QVDB_STR2(x) #x
#define QVDB_STR(x) QVDB_STR2(x)

// The real function: "_ZN4absl" + the inline namespace + `rest` (Itanium
// mangling; `rest` refers to the namespace by substitution only).
template <typename F>
F Real(const char* rest) {
  const std::string ns = QVDB_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name =
      "_ZN4absl" + std::to_string(ns.size()) + ns + std::string(rest);
  void* f = dlsym(RTLD_NEXT, name.c_str());
  if (f == nullptr) {
    std::fprintf(stderr, "absl_mutex_tsan: %s not found\n", name.c_str());
    std::abort();
  }
  return reinterpret_cast<F>(f);
}

// Abseil calls some of these functions itself through its PLT (e.g.
// AwaitWithTimeout calls AwaitWithDeadline); only the outermost call is
// annotated.
thread_local int depth = 0;
struct Outer {
  Outer() : outer(depth++ == 0) {}
  ~Outer() { --depth; }
  const bool outer;
};

// Mutex::Await and CondVar::Wait release and take the lock inside abseil.
struct ReleasedWhile {
  ReleasedWhile(void* mu, bool annotate) : mu(annotate ? mu : nullptr) {
    if (this->mu == nullptr) return;
    __tsan_mutex_pre_unlock(mu, 0);
    __tsan_mutex_post_unlock(mu, 0);
    __tsan_mutex_pre_lock(mu, 0);  // ignores accesses in abseil meanwhile
  }
  ~ReleasedWhile() {
    if (mu != nullptr) __tsan_mutex_post_lock(mu, 0, 0);
  }
  void* mu;
};

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex4LockEv");
  Outer o;
  if (o.outer) __tsan_mutex_pre_lock(this, 0);
  real(this);
  if (o.outer) __tsan_mutex_post_lock(this, 0, 0);
}

void Mutex::ReaderLock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex10ReaderLockEv");
  Outer o;
  if (o.outer) __tsan_mutex_pre_lock(this, __tsan_mutex_read_lock);
  real(this);
  if (o.outer) __tsan_mutex_post_lock(this, __tsan_mutex_read_lock, 0);
}

bool Mutex::TryLock() {
  static auto real = Real<bool (*)(Mutex*)>("5Mutex7TryLockEv");
  Outer o;
  if (o.outer) __tsan_mutex_pre_lock(this, __tsan_mutex_try_lock);
  const bool ok = real(this);
  if (o.outer) __tsan_mutex_post_lock(
      this, __tsan_mutex_try_lock | (ok ? 0 : __tsan_mutex_try_lock_failed), 0);
  return ok;
}

bool Mutex::ReaderTryLock() {
  static auto real = Real<bool (*)(Mutex*)>("5Mutex13ReaderTryLockEv");
  Outer o;
  const unsigned flags = __tsan_mutex_read_lock | __tsan_mutex_try_lock;
  if (o.outer) __tsan_mutex_pre_lock(this, flags);
  const bool ok = real(this);
  if (o.outer) __tsan_mutex_post_lock(
      this, flags | (ok ? 0 : __tsan_mutex_try_lock_failed), 0);
  return ok;
}

void Mutex::Unlock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex6UnlockEv");
  Outer o;
  if (o.outer) __tsan_mutex_pre_unlock(this, 0);
  real(this);
  if (o.outer) __tsan_mutex_post_unlock(this, 0);
}

void Mutex::ReaderUnlock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex12ReaderUnlockEv");
  Outer o;
  if (o.outer) __tsan_mutex_pre_unlock(this, __tsan_mutex_read_lock);
  real(this);
  if (o.outer) __tsan_mutex_post_unlock(this, __tsan_mutex_read_lock);
}

void Mutex::LockWhen(const Condition& cond) {
  static auto real =
      Real<void (*)(Mutex*, const Condition&)>("5Mutex8LockWhenERKNS0_9ConditionE");
  Outer o;
  if (o.outer) __tsan_mutex_pre_lock(this, 0);
  real(this, cond);
  if (o.outer) __tsan_mutex_post_lock(this, 0, 0);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static auto real = Real<void (*)(Mutex*, const Condition&)>(
      "5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  Outer o;
  if (o.outer) __tsan_mutex_pre_lock(this, __tsan_mutex_read_lock);
  real(this, cond);
  if (o.outer) __tsan_mutex_post_lock(this, __tsan_mutex_read_lock, 0);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Outer o;
  if (o.outer) __tsan_mutex_pre_lock(this, 0);
  const bool r = real(this, cond, timeout);
  if (o.outer) __tsan_mutex_post_lock(this, 0, 0);
  return r;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Outer o;
  if (o.outer) __tsan_mutex_pre_lock(this, 0);
  const bool r = real(this, cond, deadline);
  if (o.outer) __tsan_mutex_post_lock(this, 0, 0);
  return r;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Outer o;
  if (o.outer) __tsan_mutex_pre_lock(this, __tsan_mutex_read_lock);
  const bool r = real(this, cond, timeout);
  if (o.outer) __tsan_mutex_post_lock(this, __tsan_mutex_read_lock, 0);
  return r;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Outer o;
  if (o.outer) __tsan_mutex_pre_lock(this, __tsan_mutex_read_lock);
  const bool r = real(this, cond, deadline);
  if (o.outer) __tsan_mutex_post_lock(this, __tsan_mutex_read_lock, 0);
  return r;
}

void Mutex::Await(const Condition& cond) {
  static auto real =
      Real<void (*)(Mutex*, const Condition&)>("5Mutex5AwaitERKNS0_9ConditionE");
  Outer o;
  ReleasedWhile released(this, o.outer);
  real(this, cond);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Outer o;
  ReleasedWhile released(this, o.outer);
  return real(this, cond, timeout);
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Outer o;
  ReleasedWhile released(this, o.outer);
  return real(this, cond, deadline);
}

void CondVar::Wait(Mutex* mu) {
  static auto real =
      Real<void (*)(CondVar*, Mutex*)>("7CondVar4WaitEPNS0_5MutexE");
  Outer o;
  ReleasedWhile released(mu, o.outer);
  real(this, mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static auto real = Real<bool (*)(CondVar*, Mutex*, Duration)>(
      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  Outer o;
  ReleasedWhile released(mu, o.outer);
  return real(this, mu, timeout);
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static auto real = Real<bool (*)(CondVar*, Mutex*, Time)>(
      "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  Outer o;
  ReleasedWhile released(mu, o.outer);
  return real(this, mu, deadline);
}

ABSL_NAMESPACE_END
}  // namespace absl
