// A NETLINK_AUDIT socket for Node.js: the socket, a reader thread that frames
// datagrams and assembles them into events (assembler.h), a sender thread for
// requests the kernel is slow to handle, and batches of complete events handed
// to JS in one call each. What a record means (which types end, stand alone
// or wait) comes from lib/ as a table; everything past the event's header,
// key, pid and ppid is decoded in lib/ (TypeScript), lazily.

#include <napi.h>

#include "assembler.h"
#include "identity.h"

#include <linux/netlink.h>
#include <poll.h>
#include <time.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#ifndef NETLINK_AUDIT
#define NETLINK_AUDIT 9
#endif

namespace {

// The kernel grows an audit record's skb as needed; a PATH record with a
// hex-encoded PATH_MAX name comes near 8.5 KiB. A 16 KiB slot takes any record
// we know of; a longer one arrives flagged as truncated, never silently cut.
constexpr size_t kSlotBytes = 16384;
constexpr unsigned kMaxVlen = 64;
// A batch is handed over once it holds this much, whatever the latency
// setting: three quarters of a block, so that one more receive (64 records of
// a few hundred bytes, as a rule) still fits and blocks keep their size.
constexpr size_t kPublishBytes = la::kBatchBytes * 3 / 4;
// The longest the reader sleeps between two receives while records gather: a
// process's cgroup is read when its event's first record is received, and a
// short-lived one (a program run by `docker exec`) is gone within a
// millisecond or two. 98% of such programs
// were placed in their container with a 2 ms sleep, 99.x% with this.
constexpr uint64_t kGatherNs = 250 * 1000;
// When no cgroup is read nothing is lost by waiting, up to the batch's own
// latency: records gather for up to a millisecond.
constexpr uint64_t kGatherNoCgroupsNs = 1000 * 1000;
// The shortest gathering the socket buffer's bound brings it down to.
constexpr uint64_t kMinGatherNs = 50 * 1000;
// How the reader waits is chosen over this window, not per wake-up (see
// ReaderLoop): within a burst the next record comes microseconds after the first.
constexpr uint64_t kRateWindowNs = 20 * 1000 * 1000;
// Windows in a row on the timer before one of polling (see ReaderLoop).
constexpr unsigned kTimerWindows = 10;
// Batches up to this size are copied into a Buffer of V8's rather than lent.
constexpr size_t kCopyBytes = 16 * 1024;

uint64_t MonotonicNs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// std::condition_variable::wait is versioned GLIBCXX_3.4.30 by GCC 12's
// libstdc++, so a prebuilt binary using it would not load where libstdc++ is
// older (RHEL 9, Amazon Linux 2023: GCC 11). The same wait over pthreads keeps
// the prebuilds loadable there (scripts/prebuild.sh checks the versions).
class CondVar {
 public:
  CondVar() { pthread_cond_init(&cond_, nullptr); }
  ~CondVar() { pthread_cond_destroy(&cond_); }
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;
  template <typename Pred>
  void wait(std::unique_lock<std::mutex>& lock, Pred ready) {
    while (!ready()) pthread_cond_wait(&cond_, lock.mutex()->native_handle());
  }
  void notify_one() { pthread_cond_signal(&cond_); }

 private:
  pthread_cond_t cond_;
};

Napi::Error SystemError(Napi::Env env, int err, const char* syscall) {
  Napi::Error e = Napi::Error::New(env, std::strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

struct Counters {
  double datagrams = 0;   // received from the kernel (records and replies)
  double bytes = 0;       // their bytes
  double batches = 0;
  double overruns = 0;    // ENOBUFS: the socket buffer overflowed, the kernel dropped
  double dropped = 0;     // datagrams discarded here because the buffer bound was hit
  double droppedBytes = 0;
  double spoofed = 0;     // sender port id was not the kernel's (0)
  double truncated = 0;   // longer than a slot; delivered flagged
  double pendingBytes = 0;
  double peakPendingBytes = 0;
  double blockedMs = 0;   // time the reader spent not reading because the bound was hit
  la::AssemblerStats assembly;
  double inFlight = 0;
};

struct BatchHint {
  size_t capacity;
  size_t used;
};

class AuditSocket : public Napi::ObjectWrap<AuditSocket> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "AuditSocket",
                       {
                           InstanceMethod<&AuditSocket::Send>("send"),
                           InstanceMethod<&AuditSocket::Post>("post"),
                           InstanceMethod<&AuditSocket::Start>("start"),
                           InstanceMethod<&AuditSocket::Take>("take"),
                           InstanceMethod<&AuditSocket::Stats>("stats"),
                           InstanceMethod<&AuditSocket::Ref>("ref"),
                           InstanceMethod<&AuditSocket::Unref>("unref"),
                           InstanceMethod<&AuditSocket::SetReceiveBuffer>("setReceiveBuffer"),
                           InstanceMethod<&AuditSocket::SetFarewell>("setFarewell"),
                           InstanceMethod<&AuditSocket::Stop>("stop"),
                           InstanceMethod<&AuditSocket::Close>("close"),
                           InstanceAccessor<&AuditSocket::PortId>("portId"),
                           InstanceAccessor<&AuditSocket::Closed>("closed"),
                       });
  }

  // new AuditSocket({ multicast, bufferBytes, dropOnOverflow, latencyMs, assemble: { maxInFlight,
  //   timeoutMs, maxRecordsPerEvent, maxEventBytes, typeClass, keys, types, cgroups, procRoot,
  //   execSyscalls: [arch, nr, …] } })
  // lib/transport/channel.ts checks the options first, with messages for users;
  // these checks keep a wrong value from reaching a thread.
  explicit AuditSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AuditSocket>(info) {
    Napi::Env env = info.Env();
    Napi::Object opts = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>()
                                                                : Napi::Object::New(env);
    bool multicast = opts.Has("multicast") && opts.Get("multicast").ToBoolean();
    if (opts.Has("bufferBytes") && !NumberIn(opts.Get("bufferBytes"), 65536, 1ull << 40, &bufferBytes_)) {
      Napi::RangeError::New(env, "bufferBytes must be a whole number of bytes from 65536 to 2^40").ThrowAsJavaScriptException();
      return;
    }
    dropOnOverflow_ = opts.Has("dropOnOverflow") && opts.Get("dropOnOverflow").ToBoolean();
    size_t latencyUs = 0;
    if (opts.Has("latencyMs")) {
      Napi::Value v = opts.Get("latencyMs");
      double ms = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!(ms >= 0 && ms <= 1000)) {
        Napi::RangeError::New(env, "latencyMs must be from 0 to 1000").ThrowAsJavaScriptException();
        return;
      }
      latencyUs = static_cast<size_t>(ms * 1000);
      latencyNs_ = static_cast<uint64_t>(latencyUs) * 1000;
    }
    la::AssemblerOptions ao;
    if (opts.Has("assemble") && opts.Get("assemble").IsObject()) {
      Napi::Object a = opts.Get("assemble").As<Napi::Object>();
      size_t n = 0;
      if (a.Has("maxInFlight")) {
        if (!NumberIn(a.Get("maxInFlight"), 1, 1u << 20, &n)) {
          Napi::RangeError::New(env, "maxInFlight must be from 1 to 2^20").ThrowAsJavaScriptException();
          return;
        }
        ao.maxInFlight = static_cast<uint32_t>(n);
      }
      if (a.Has("timeoutMs")) {
        if (!NumberIn(a.Get("timeoutMs"), 1, 3600000, &n)) {
          Napi::RangeError::New(env, "timeoutMs must be from 1 to 3600000").ThrowAsJavaScriptException();
          return;
        }
        ao.timeoutNs = static_cast<uint64_t>(n) * 1000000ull;
      }
      if (a.Has("maxRecordsPerEvent")) {
        if (!NumberIn(a.Get("maxRecordsPerEvent"), 1, 1u << 24, &n)) {
          Napi::RangeError::New(env, "maxRecordsPerEvent must be from 1 to 2^24").ThrowAsJavaScriptException();
          return;
        }
        ao.maxRecordsPerEvent = static_cast<uint32_t>(n);
      }
      if (a.Has("maxEventBytes")) {
        if (!NumberIn(a.Get("maxEventBytes"), kSlotBytes, 1u << 30, &ao.maxEventBytes)) {
          Napi::RangeError::New(env, "maxEventBytes must be from 16384 to 2^30").ThrowAsJavaScriptException();
          return;
        }
      }
      if (!TypeTable(a, "typeClass", &ao.typeClass) || !TypeTable(a, "types", &ao.types)) return;
      if (a.Has("cgroups")) ao.cgroups = a.Get("cgroups").ToBoolean();
      if (a.Has("execSyscalls") && a.Get("execSyscalls").IsArray()) {
        Napi::Array pairs = a.Get("execSyscalls").As<Napi::Array>();
        for (uint32_t i = 0; i + 1 < pairs.Length(); i += 2)
          ao.execSyscalls.emplace_back(pairs.Get(i).ToNumber().Uint32Value(), pairs.Get(i + 1).ToNumber().Uint32Value());
      }
      if (a.Has("procRoot") && a.Get("procRoot").IsString()) ao.procRoot = a.Get("procRoot").As<Napi::String>().Utf8Value();
      if (a.Has("keys") && a.Get("keys").IsArray()) {
        Napi::Array keys = a.Get("keys").As<Napi::Array>();
        for (uint32_t i = 0; i < keys.Length(); i++) ao.keys.push_back(keys.Get(i).ToString().Utf8Value());
      }
    }
    assembler_ = std::make_unique<la::Assembler>(std::move(ao));

    fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_AUDIT);
    if (fd_ < 0) {
      SystemError(env, errno, "socket").ThrowAsJavaScriptException();
      return;
    }
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
      int err = errno;
      CloseFd();
      SystemError(env, err, "bind").ThrowAsJavaScriptException();
      return;
    }
    if (multicast) {
      int group = 1;  // AUDIT_NLGRP_READLOG
      if (::setsockopt(fd_, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) {
        int err = errno;
        CloseFd();
        SystemError(env, err, "setsockopt(NETLINK_ADD_MEMBERSHIP)").ThrowAsJavaScriptException();
        return;
      }
    }
    socklen_t len = sizeof addr;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) portId_ = addr.nl_pid;
    // Connected to the kernel (port 0), the socket takes unicast datagrams from
    // nobody else: the kernel refuses another sender with ECONNREFUSED, so no
    // record needs its sender checked. A multicast group can still be sent to
    // by a process with CAP_NET_ADMIN: there the reader checks each sender.
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
      int err = errno;
      CloseFd();
      SystemError(env, err, "connect").ThrowAsJavaScriptException();
      return;
    }
    multicast_ = multicast;
    env_ = env;
    napi_add_env_cleanup_hook(env_, CleanupHook, this);
    cleanupHookAdded_ = true;
  }

  ~AuditSocket() override {
    StopReader();
    CloseFd();
    RemoveCleanupHook();
  }

 private:
  static void CleanupHook(void* arg) {
    auto* self = static_cast<AuditSocket*>(arg);
    // The environment is going away (process exit, worker terminated): stop the
    // thread before the memory it writes to is torn down.
    self->cleanupHookAdded_ = false;
    self->StopReader();
    self->SendFarewell();
    self->CloseFd();
  }

  // setFarewell([message, …], fileToRemove?): what to send the kernel, and a
  // file to unlink, if the environment goes away with the socket still open.
  // A worker thread that is terminated runs no more JS, not even 'exit'
  // listeners: this is how a subscription in one still undoes its kernel
  // changes (the messages are built in lib/, this only replays bytes). close()
  // forgets them: JS has restored what it changed by then.
  Napi::Value SetFarewell(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsArray()) {
      Napi::TypeError::New(env, "setFarewell() takes an array of Buffers").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Array list = info[0].As<Napi::Array>();
    std::vector<std::vector<uint8_t>> messages;
    for (uint32_t i = 0; i < list.Length(); i++) {
      Napi::Value v = list.Get(i);
      if (!v.IsTypedArray()) {
        Napi::TypeError::New(env, "setFarewell() takes an array of Buffers").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      Napi::Uint8Array m = v.As<Napi::Uint8Array>();
      messages.emplace_back(m.Data(), m.Data() + m.ByteLength());
    }
    farewell_ = std::move(messages);
    farewellFile_ = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : std::string();
    return env.Undefined();
  }

  void SendFarewell() {
    if (fd_ >= 0) {
      sockaddr_nl to{};
      to.nl_family = AF_NETLINK;
      for (const auto& m : farewell_) {
        ssize_t n;
        do {
          n = ::sendto(fd_, m.data(), m.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
        } while (n < 0 && errno == EINTR);
      }
    }
    if (!farewellFile_.empty()) ::unlink(farewellFile_.c_str());
    farewell_.clear();
    farewellFile_.clear();
  }

  // Calls onReadable() through the C API. node-addon-api's own call turns a
  // failure into a C++ exception, and building that Error needs a working
  // environment: in a worker being terminated it has none, and the failure
  // became a fatal error that took the whole process down. A failed call
  // here means the environment is going away; the cleanup hook does the rest.
  static void CallOnReadable(Napi::Env env, Napi::Function onReadable) {
    if (env == nullptr || onReadable.IsEmpty()) return;
    napi_value recv;
    napi_value result;
    if (napi_get_undefined(env, &recv) != napi_ok) return;
    napi_call_function(env, recv, onReadable, 0, nullptr, &result);
  }

  Napi::Value PortId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), portId_); }
  Napi::Value Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), fd_ < 0); }

  bool CheckOpen(Napi::Env env) {
    if (fd_ >= 0) return true;
    Napi::Error e = Napi::Error::New(env, "the audit socket is closed");
    e.Set("code", Napi::String::New(env, "ERR_SOCKET_CLOSED"));
    e.ThrowAsJavaScriptException();
    return false;
  }

  static bool NumberIn(Napi::Value v, double lo, double hi, size_t* out) {
    if (!v.IsNumber()) return false;
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= lo && d <= hi) || d != static_cast<double>(static_cast<uint64_t>(d))) return false;
    *out = static_cast<size_t>(d);
    return true;
  }

  // A 65536-entry Uint8Array indexed by record type, or nothing.
  static bool TypeTable(Napi::Object o, const char* name, std::vector<uint8_t>* out) {
    if (!o.Has(name) || o.Get(name).IsUndefined()) return true;
    Napi::Value v = o.Get(name);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
        v.As<Napi::Uint8Array>().ElementLength() != 65536) {
      Napi::TypeError::New(o.Env(), std::string(name) + " must be a Uint8Array of 65536 entries").ThrowAsJavaScriptException();
      return false;
    }
    Napi::Uint8Array t = v.As<Napi::Uint8Array>();
    out->assign(t.Data(), t.Data() + 65536);
    return true;
  }

  // setReceiveBuffer(bytes) -> the size the kernel granted. SO_RCVBUFFORCE goes
  // past net.core.rmem_max and needs CAP_NET_ADMIN; without it, SO_RCVBUF.
  Napi::Value SetReceiveBuffer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    int bytes = info[0].ToNumber().Int32Value();
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0 &&
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) < 0) {
      SystemError(env, errno, "setsockopt(SO_RCVBUF)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int granted = 0;
    socklen_t len = sizeof granted;
    ::getsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &granted, &len);
    receiveBufferBytes_.store(static_cast<size_t>(granted), std::memory_order_relaxed);
    return Napi::Number::New(env, granted);
  }

  // send(buffer): one netlink message to the kernel (port id 0).
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    if (!info[0].IsTypedArray()) {
      Napi::TypeError::New(env, "send() takes a Buffer or Uint8Array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Uint8Array msg = info[0].As<Napi::Uint8Array>();
    sockaddr_nl to{};
    to.nl_family = AF_NETLINK;
    ssize_t n;
    do {
      n = ::sendto(fd_, msg.Data(), msg.ByteLength(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      SystemError(env, errno, "sendto").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return Napi::Number::New(env, static_cast<double>(n));
  }

  // post(buffer): send on the sender thread, in order, without waiting. The
  // kernel handles a request inside sendto, and some take long (deleting a
  // rule waits for an RCU grace period, ~10 ms): the JS thread must not. A
  // failed send is reported through onReadable and take().sendErrors.
  Napi::Value Post(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    if (!info[0].IsTypedArray()) {
      Napi::TypeError::New(env, "post() takes a Buffer or Uint8Array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!tsfn_) {
      Napi::Error::New(env, "post() needs the reader started: errors are reported through it").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Uint8Array msg = info[0].As<Napi::Uint8Array>();
    {
      std::lock_guard<std::mutex> lock(sendMutex_);
      sendQueue_.emplace_back(msg.Data(), msg.Data() + msg.ByteLength());
      if (!sender_.joinable()) sender_ = std::thread([this] { SenderLoop(); });
    }
    sendReady_.notify_one();
    return env.Undefined();
  }

  void SenderLoop() {
    ::prctl(PR_SET_NAME, "la-sender");
    sockaddr_nl to{};
    to.nl_family = AF_NETLINK;
    while (true) {
      std::vector<uint8_t> msg;
      {
        std::unique_lock<std::mutex> lock(sendMutex_);
        sendReady_.wait(lock, [&] { return senderStopping_ || !sendQueue_.empty(); });
        if (senderStopping_) return;
        msg = std::move(sendQueue_.front());
        sendQueue_.pop_front();
      }
      ssize_t n;
      do {
        n = ::sendto(fd_, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
      } while (n < 0 && errno == EINTR);
      if (n >= 0 || msg.size() < 16) continue;
      uint32_t seq;
      std::memcpy(&seq, msg.data() + 8, sizeof seq);
      bool notify;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        sendErrors_.push_back(seq);
        sendErrors_.push_back(static_cast<uint32_t>(errno));
        notify = !notified_;
        notified_ = true;
      }
      if (notify) tsfn_.NonBlockingCall(CallOnReadable);
    }
  }

  void StopSender() {
    if (!sender_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(sendMutex_);
      senderStopping_ = true;
    }
    sendReady_.notify_one();
    sender_.join();
  }

  // start(onReadable): start the reader thread. onReadable() is called on the JS
  // thread when batches wait and JS has taken everything since the last call:
  // one call per burst, not per record, and none while JS is not taking.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    if (reader_.joinable()) {
      Napi::Error::New(env, "the reader is already started").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    wakeFd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wakeFd_ < 0) {
      SystemError(env, errno, "eventfd").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    tsfn_ = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "linux-audit reader", 0, 1);
    stopping_ = false;
    reader_ = std::thread([this] { ReaderLoop(); });
    return env.Undefined();
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (tsfn_) tsfn_.Ref(info.Env());
    return info.Env().Undefined();
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (tsfn_) tsfn_.Unref(info.Env());
    return info.Env().Undefined();
  }

  // take(maxBytes) -> { batches: [data0, index0, data1, index1, ...], control:
  // [datagram, ...], sendErrors: [seq0, errno0, ...] }: waiting batches of
  // complete events (at least one and about maxBytes in all; the index layout
  // is assembler.h's), the datagrams that answer requests (in order), and the
  // posted messages that failed. What is not taken stays counted against the
  // bound. Throws the reader's error once all data before it is taken.
  Napi::Value Take(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double maxBytes = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 1e18;
    std::deque<la::Batch> batches;
    std::vector<std::vector<uint8_t>> control;
    std::vector<uint32_t> sendErrors;
    int err = 0;
    const char* errSyscall = nullptr;
    bool more = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      double taken = 0;
      while (!pending_.empty() && (batches.empty() || taken < maxBytes)) {
        taken += static_cast<double>(pending_.front().used);
        batches.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
      counters_.pendingBytes -= taken;
      control.swap(control_);
      sendErrors.swap(sendErrors_);
      // Notify again only once JS has seen everything: until then it is still
      // taking, and a notification would only wake it for nothing.
      if (pending_.empty()) notified_ = false;
      else more = true;
      if (batches.empty() && control.empty() && sendErrors.empty() && readerErrno_ != 0) {
        err = readerErrno_;
        errSyscall = readerSyscall_;
      }
    }
    space_.notify_one();
    if (err != 0) {
      SystemError(env, err, errSyscall).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Array out = Napi::Array::New(env, batches.size() * 2);
    uint32_t i = 0;
    for (la::Batch& b : batches) {
      size_t used = b.used;
      size_t capacity = b.capacity;
      size_t words = b.IndexWords();
      Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, words * sizeof(uint32_t));
      b.WriteIndex(static_cast<uint32_t*>(ab.Data()));
      if (used <= kCopyBytes) {
        // A small batch (a moderate rate) is copied and its block goes back
        // to the pool at once: waiting for V8 to collect a Buffer over it
        // would take a fresh block, and its page faults, for every batch.
        out.Set(i++, Napi::Buffer<uint8_t>::Copy(env, b.data, used));
        out.Set(i++, Napi::Uint32Array::New(env, words, ab, 0));
        continue;
      }
      uint8_t* data = b.Release();
      // Tell V8 what these small Buffer objects hold, or it sees no reason to
      // collect them and the blocks behind them pile up between GCs.
      Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(used));
      Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::New(
          env, data, used,
          [](Napi::Env e, uint8_t* d, BatchHint* hint) {
            Napi::MemoryManagement::AdjustExternalMemory(e, -static_cast<int64_t>(hint->used));
            la::FreeBatchBlock(d, hint->capacity);
            delete hint;
          },
          new BatchHint{capacity, used});
      out.Set(i++, buffer);
      out.Set(i++, Napi::Uint32Array::New(env, words, ab, 0));
    }
    // The rare parts are properties of the array, set only when there is
    // something: at low rates JS is woken for a batch or two, and a result
    // object with three named properties and two empty arrays cost about as
    // much as the take.
    if (!control.empty()) {
      Napi::Array replies = Napi::Array::New(env, control.size());
      for (uint32_t k = 0; k < control.size(); k++)
        replies.Set(k, Napi::Buffer<uint8_t>::Copy(env, control[k].data(), control[k].size()));
      out.Set("control", replies);
    }
    if (!sendErrors.empty()) {
      Napi::Array errors = Napi::Array::New(env, sendErrors.size());
      for (uint32_t k = 0; k < sendErrors.size(); k++) errors.Set(k, Napi::Number::New(env, sendErrors[k]));
      out.Set("sendErrors", errors);
    }
    if (more) out.Set("more", true);
    return out;
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Counters c;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      c = counters_;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("datagrams", c.datagrams);
    o.Set("bytes", c.bytes);
    o.Set("batches", c.batches);
    o.Set("overruns", c.overruns);
    o.Set("dropped", c.dropped);
    o.Set("droppedBytes", c.droppedBytes);
    o.Set("spoofed", c.spoofed);
    o.Set("truncated", c.truncated);
    o.Set("pendingBytes", c.pendingBytes);
    o.Set("peakPendingBytes", c.peakPendingBytes);
    o.Set("blockedMs", c.blockedMs);
    o.Set("bufferBytes", static_cast<double>(bufferBytes_));
    o.Set("records", c.assembly.records);
    o.Set("events", c.assembly.events);
    o.Set("filtered", c.assembly.filtered);
    o.Set("incomplete", c.assembly.incomplete);
    o.Set("strayEndOfEvent", c.assembly.strayEndOfEvent);
    o.Set("serialGaps", c.assembly.serialGaps);
    o.Set("malformed", c.assembly.malformed);
    o.Set("recordsCut", c.assembly.recordsCut);
    o.Set("cgroupReads", c.assembly.cgroupReads);
    o.Set("cgroupParent", c.assembly.cgroupParent);
    o.Set("cgroupGone", c.assembly.cgroupGone);
    o.Set("inFlight", c.inFlight);
    return o;
  }

  // stop(): stop the reader, and hand out the events still waiting for more
  // records (marked incomplete where records may be missing): take() then
  // returns everything received. The socket stays open until close().
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    StopReader();
    la::Batch tail;
    try {
      assembler_->Flush(tail);
    } catch (const std::bad_alloc&) {
      SystemError(env, ENOMEM, "allocating a batch").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    counters_.assembly = assembler_->stats();
    counters_.inFlight = 0;
    if (!tail.empty()) {
      counters_.pendingBytes += static_cast<double>(tail.used);
      counters_.batches++;
      pending_.push_back(std::move(tail));
    }
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    farewell_.clear();
    farewellFile_.clear();
    StopReader();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pending_.clear();
      control_.clear();
      counters_.pendingBytes = 0;
    }
    CloseFd();
    RemoveCleanupHook();
    return info.Env().Undefined();
  }

  void RemoveCleanupHook() {
    if (!cleanupHookAdded_) return;
    cleanupHookAdded_ = false;
    napi_remove_env_cleanup_hook(env_, CleanupHook, this);
  }

  void StopReader() {
    StopSender();
    if (reader_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
      }
      space_.notify_one();
      uint64_t one = 1;
      ssize_t ignored = ::write(wakeFd_, &one, sizeof one);
      (void)ignored;
      reader_.join();
    }
    if (tsfn_) {
      tsfn_.Release();
      tsfn_ = Napi::ThreadSafeFunction();
    }
    if (wakeFd_ >= 0) {
      ::close(wakeFd_);
      wakeFd_ = -1;
    }
  }

  void CloseFd() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    // The reader has stopped: what it kept open for reading /proc goes too.
    if (assembler_) assembler_->CloseFiles();
  }

  // --- reader thread -------------------------------------------------------

  // Tells JS once, until it has taken everything (see Take).
  void NotifyLocked(bool* notify) {
    *notify = !notified_;
    notified_ = true;
  }

  void ReaderLoop() {
    // Named, so that `top -H` and the benchmark can tell its CPU from the JS
    // thread's. prctl, not pthread_setname_np: glibc 2.34 moved that one into
    // libc under a new symbol version, and the prebuilt addon must load on
    // glibc 2.17 (scripts/prebuild.sh checks).
    ::prctl(PR_SET_NAME, "la-reader");
    // Before the batch: its block goes back to the pool, then the pool goes.
    struct PoolHold {
      PoolHold() { la::RetainBlockPool(); }
      ~PoolHold() { la::ReleaseBlockPool(); }
    } poolHold;
    // Not zero-filled: the kernel writes each slot before it is read, and an
    // untouched page costs no memory (a vector would touch all 1 MiB).
    std::unique_ptr<uint8_t[]> slots;
    la::Batch batch;
    uint64_t batchOpened = 0;  // when the batch got its first event
    mmsghdr msgs[kMaxVlen];
    iovec iovs[kMaxVlen];
    sockaddr_nl from[kMaxVlen];
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wakeFd_, POLLIN, 0}};
    // How long the timer lets records gather, so that one receive takes
    // many: up to kGatherNs, or kGatherNoCgroupsNs when no cgroup is read
    // (JS is woken once per latencyNs_ whatever this is), less when the last
    // gathering filled a good part of the socket buffer (a small buffer,
    // without CAP_NET_ADMIN, must not overflow while we wait).
    const uint64_t gatherCapNs = assembler_->ReadsCgroups() ? kGatherNs : kGatherNoCgroupsNs;
    const uint64_t maxGatherNs = latencyNs_ < gatherCapNs ? latencyNs_ : gatherCapNs;
    uint64_t gatherNs = maxGatherNs;
    // At the last window's rate, what one gathering lets in must fit the
    // socket buffer with room to spare: a sixteenth of it in record bytes
    // (the kernel charges a small record several times its length). With a
    // buffer of 416 KiB (SO_RCVBUF without CAP_NET_ADMIN) at 250,000
    // records/s of 350 bytes that is about 300 µs, not the 1 ms a reader
    // without containers may otherwise gather for. A bound, as the halving
    // below is, not a measured gain: a multicast probe with 256 KiB at full
    // rate overran with 250 µs, 1 ms and this alike (its reader starved of
    // CPU on two cores).
    uint64_t rateCapNs = maxGatherNs;
    double windowBytes = 0;  // record bytes received in the window
    // Three ways to wait, chosen over a window of 20 ms. Polling, the reader
    // wakes when a record arrives and receives at once. Above two events per
    // gathering (8,000 events/s with 250 µs) it then sleeps one gathering and
    // receives again, so that each receive and each wake-up of JS takes many;
    // below that a gathering catches mostly the rest of the event that woke
    // it, which its own wake-up latency gathers as well, for one more
    // wake-up. On its timer it only sleeps and receives: one wake-up per
    // gathering instead of two, which pays once the polls and sleeps woke it
    // more often than the timer would (at full rate a poll woke it for the
    // first record after each receive, microseconds later; 0.9 polls per
    // event in the exec storm). Back to polling once the timer's gatherings
    // catch less than an event each (an idle reader must not tick), and for
    // one window in every kTimerWindows + 1, to see whether polling would
    // now wake it less: without that, at 10,000 getppid/s it woke 0.27
    // times per event (once on the timer it stayed: 2.5 events per
    // gathering), where polling and sleeping had woken it 0.17 times
    // (bench/README.md).
    bool onTimer = false;
    unsigned timerWindows = 0;
    bool gatherAfterPoll = false;
    uint64_t windowStart = MonotonicNs();
    double windowEvents = 0;  // the assembler's count (handed out or filtered) when the window opened
    double windowWakes = 0;   // polls and gathering sleeps in the window

    auto publish = [&]() {
      if (batch.empty()) return;
      bool notify;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        counters_.pendingBytes += static_cast<double>(batch.used);
        if (counters_.pendingBytes > counters_.peakPendingBytes) counters_.peakPendingBytes = counters_.pendingBytes;
        counters_.batches++;
        pending_.push_back(std::move(batch));
        NotifyLocked(&notify);
      }
      if (notify) tsfn_.NonBlockingCall(CallOnReadable);
      batchOpened = 0;
    };

    auto fail = [&](int err, const char* syscall) {
      publish();
      bool notify;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        readerErrno_ = err;
        readerSyscall_ = syscall;
        NotifyLocked(&notify);
      }
      if (notify) tsfn_.NonBlockingCall(CallOnReadable);
    };

    // Receive until the socket is empty, handing over full batches meanwhile.
    // False when the socket failed (the reader stops).
    auto drain = [&](bool dropping, uint64_t readableAt, size_t* gathered) -> bool {
          while (true) {
            if (dropping) {
              ssize_t n = ::recv(fd_, slots.get(), kSlotBytes, MSG_DONTWAIT | MSG_TRUNC);
              if (n < 0) {
                int e = errno;
                if (e == EINTR) continue;
                if (e == ENOBUFS) {
                  std::lock_guard<std::mutex> lock(mutex_);
                  counters_.overruns++;
                  continue;
                }
                if (e != EAGAIN) fail(e, "recv");
                break;
              }
              uint32_t seq = 0;
              if (n >= 16) std::memcpy(&seq, slots.get() + 8, sizeof seq);
              bool notify = false;
              std::lock_guard<std::mutex> lock(mutex_);
              if (seq != 0 && n <= static_cast<ssize_t>(kSlotBytes)) {
                // Never a request's answer: those are not what overflows.
                control_.emplace_back(slots.get(), slots.get() + n);
                NotifyLocked(&notify);
                if (notify) tsfn_.NonBlockingCall(CallOnReadable);
                continue;
              }
              counters_.dropped++;
              counters_.droppedBytes += static_cast<double>(n);
              if (stopping_ || counters_.pendingBytes < static_cast<double>(bufferBytes_)) break;
              continue;
            }
            for (unsigned i = 0; i < kMaxVlen; i++) {
              msgs[i].msg_hdr = msghdr{};
              // Asking each datagram's sender costs a copy per datagram; only
              // a multicast socket needs it (see the constructor).
              msgs[i].msg_hdr.msg_name = multicast_ ? &from[i] : nullptr;
              msgs[i].msg_hdr.msg_namelen = multicast_ ? sizeof from[i] : 0;
              msgs[i].msg_hdr.msg_iov = &iovs[i];
              msgs[i].msg_hdr.msg_iovlen = 1;
              msgs[i].msg_len = 0;
            }
            int got = ::recvmmsg(fd_, msgs, kMaxVlen, MSG_DONTWAIT | MSG_TRUNC, nullptr);
            if (got < 0) {
              int e = errno;
              if (e == EINTR) continue;
              if (e == ENOBUFS) {
                std::lock_guard<std::mutex> lock(mutex_);
                counters_.overruns++;
                continue;
              }
              if (e != EAGAIN && e != EWOULDBLOCK) {
                fail(e, "recvmmsg");
                return false;
              }
              break;
            }
            uint64_t arrived = MonotonicNs();
            double bytes = 0, spoofed = 0, truncated = 0;
            bool replies = false;
            for (int i = 0; i < got; i++) {
              if (multicast_ && from[i].nl_pid != 0) {
                spoofed++;
                continue;
              }
              size_t len = msgs[i].msg_len;
              uint32_t flags = 0;
              if ((msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || len > kSlotBytes) {
                flags |= la::kRecordTruncated;
                len = kSlotBytes;
                truncated++;
              }
              bytes += static_cast<double>(len);
              const uint8_t* d = static_cast<const uint8_t*>(iovs[i].iov_base);
              if (!assembler_->PushDatagram(d, len, flags, arrived, batch)) {
                std::lock_guard<std::mutex> lock(mutex_);
                control_.emplace_back(d, d + len);
                replies = true;
              }
            }
            *gathered += static_cast<size_t>(bytes);
            if (!batch.empty() && batchOpened == 0) batchOpened = readableAt;
            bool notify = false;
            {
              std::lock_guard<std::mutex> lock(mutex_);
              counters_.datagrams += got - spoofed;
              counters_.bytes += bytes;
              counters_.spoofed += spoofed;
              counters_.truncated += truncated;
              counters_.assembly = assembler_->stats();
              counters_.inFlight = static_cast<double>(assembler_->InFlight());
              if (replies) NotifyLocked(&notify);
            }
            // A request's answer is not held back for a batch.
            if (notify) tsfn_.NonBlockingCall(CallOnReadable);
            if (batch.used >= kPublishBytes) publish();
            if (static_cast<unsigned>(got) < kMaxVlen) break;  // socket drained
            std::lock_guard<std::mutex> lock(mutex_);
            if (stopping_) break;
            if (counters_.pendingBytes + static_cast<double>(batch.used) >= static_cast<double>(bufferBytes_)) break;
          }
          return true;
    };

    try {
      slots.reset(new uint8_t[kSlotBytes * kMaxVlen]);
      for (unsigned i = 0; i < kMaxVlen; i++) {
        iovs[i].iov_base = slots.get() + i * kSlotBytes;
        iovs[i].iov_len = kSlotBytes;
      }
      while (true) {
        // Hold back while the bound is reached, unless told to drop instead:
        // the socket buffer and then the kernel backlog take the load meanwhile.
        bool dropping = false;
        {
          std::unique_lock<std::mutex> lock(mutex_);
          if (stopping_) break;
          if (counters_.pendingBytes + static_cast<double>(batch.used) >= static_cast<double>(bufferBytes_)) {
            if (dropOnOverflow_) {
              dropping = true;
            } else {
              auto t0 = std::chrono::steady_clock::now();
              space_.wait(lock, [&] { return stopping_ || counters_.pendingBytes < static_cast<double>(bufferBytes_) / 2; });
              counters_.blockedMs += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
              if (stopping_) break;
            }
          }
        }

        // Wake for data, for the oldest waiting event's timeout, or for a
        // batch that has waited long enough.
        uint64_t now = MonotonicNs();
        uint64_t deadline = assembler_->NextDeadline();
        if (!batch.empty() && batchOpened + latencyNs_ < deadline) deadline = batchOpened + latencyNs_;
        timespec timeout{};
        timespec* timeoutPtr = nullptr;
        if (deadline != UINT64_MAX) {
          uint64_t wait = deadline > now ? deadline - now : 0;
          timeout.tv_sec = static_cast<time_t>(wait / 1000000000ull);
          timeout.tv_nsec = static_cast<long>(wait % 1000000000ull);
          timeoutPtr = &timeout;
        }
        // stop() and close() set stopping_, which the timer sees at the top
        // of the loop within one gathering; a poll is woken by wakeFd.
        const bool timed = onTimer && gatherNs > 0 && !dropping;
        bool readable;
        if (timed) {
          timespec pause{static_cast<time_t>(gatherNs / 1000000000ull), static_cast<long>(gatherNs % 1000000000ull)};
          ::nanosleep(&pause, nullptr);
          readable = true;
        } else {
          int pr = ::ppoll(fds, 2, timeoutPtr, nullptr);
          if (pr < 0) {
            if (errno == EINTR) continue;
            fail(errno, "poll");
            break;
          }
          if (fds[1].revents & POLLIN) break;  // stop() or close() woke us
          windowWakes++;
          readable = (fds[0].revents & (POLLIN | POLLERR)) != 0;
        }
        if (readable) {
          uint64_t readableAt = MonotonicNs();
          size_t gathered = 0;
          // Polled, at once: a process's cgroup is read when its first record
          // is, and a short-lived one (a program `docker exec` runs) is gone
          // soon. On the timer, records waited one gathering at most.
          if (!drain(dropping, readableAt, &gathered)) break;
          if (!timed && gatherAfterPoll && gatherNs > 0 && !dropping) {
            timespec pause{static_cast<time_t>(gatherNs / 1000000000ull), static_cast<long>(gatherNs % 1000000000ull)};
            ::nanosleep(&pause, nullptr);
            windowWakes++;
            if (!drain(dropping, readableAt, &gathered)) break;
          }
          windowBytes += static_cast<double>(gathered);
          size_t buffer = receiveBufferBytes_.load(std::memory_order_relaxed);
          if (gathered > buffer / 4 && gatherNs > kMinGatherNs) gatherNs /= 2;
          else if (gathered < buffer / 16) gatherNs = gatherNs * 2 > rateCapNs ? rateCapNs : gatherNs * 2;
        }
        now = MonotonicNs();
        if (now - windowStart >= kRateWindowNs) {
          const double span = static_cast<double>(now - windowStart);
          const double events = assembler_->stats().events + assembler_->stats().filtered;
          const double fit = windowBytes > 0 ? static_cast<double>(receiveBufferBytes_.load(std::memory_order_relaxed)) / 16 / (windowBytes / span) : static_cast<double>(maxGatherNs);
          rateCapNs = fit >= static_cast<double>(maxGatherNs) ? maxGatherNs : fit > static_cast<double>(kMinGatherNs) ? static_cast<uint64_t>(fit) : std::min(kMinGatherNs, maxGatherNs);
          if (gatherNs > rateCapNs) gatherNs = rateCapNs;
          const double perGathering = (events - windowEvents) * static_cast<double>(gatherNs) / span;
          timerWindows = timed ? timerWindows + 1 : 0;
          onTimer = timed ? perGathering >= 1 && timerWindows < kTimerWindows : windowWakes * static_cast<double>(gatherNs) > span;
          gatherAfterPoll = perGathering >= 2;
          windowStart = now;
          windowEvents = events;
          windowWakes = 0;
          windowBytes = 0;
        }
        assembler_->Expire(now, batch);
        if (!batch.empty() && batchOpened == 0) batchOpened = now;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          counters_.assembly = assembler_->stats();
          counters_.inFlight = static_cast<double>(assembler_->InFlight());
        }
        if (!batch.empty() && now - batchOpened >= latencyNs_) publish();
      }
    } catch (const std::bad_alloc&) {
      fail(ENOMEM, "allocating a batch");
      return;
    } catch (const std::exception&) {
      fail(EIO, "the reader thread");
      return;
    }
    publish();
  }

  int fd_ = -1;
  int wakeFd_ = -1;
  uint32_t portId_ = 0;
  size_t bufferBytes_ = 64 << 20;
  bool dropOnOverflow_ = false;
  bool multicast_ = false;
  uint64_t latencyNs_ = 2000000;  // 2 ms; lib/ sets it (latencyMs)
  std::atomic<size_t> receiveBufferBytes_{212992};
  bool cleanupHookAdded_ = false;
  std::vector<std::vector<uint8_t>> farewell_;
  std::string farewellFile_;
  napi_env env_ = nullptr;
  std::unique_ptr<la::Assembler> assembler_;  // the reader thread's while it runs

  std::thread reader_;
  std::thread sender_;
  std::mutex sendMutex_;
  CondVar sendReady_;
  std::deque<std::vector<uint8_t>> sendQueue_;
  bool senderStopping_ = false;
  std::vector<uint32_t> sendErrors_;  // (seq, errno) pairs, under mutex_
  Napi::ThreadSafeFunction tsfn_;
  std::mutex mutex_;
  CondVar space_;
  std::deque<la::Batch> pending_;
  std::vector<std::vector<uint8_t>> control_;
  Counters counters_;
  bool notified_ = false;
  bool stopping_ = false;
  int readerErrno_ = 0;
  const char* readerSyscall_ = nullptr;
};

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  exports.Set("AuditSocket", AuditSocket::Init(env));
  exports.Set("SLOT_BYTES", Napi::Number::New(env, kSlotBytes));
  exports.Set("lookupIdentity", Napi::Function::New(env, la::LookupIdentity, "lookupIdentity"));
  return exports;
}

}  // namespace

NODE_API_MODULE(linux_audit, InitModule)
