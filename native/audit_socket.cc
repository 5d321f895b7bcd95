// A NETLINK_AUDIT socket for Node.js, and nothing more.
//
// This layer knows netlink framing and no audit protocol: it opens and binds the
// socket, drains it on a thread of its own with recvmmsg into large chunks, and
// hands the JS thread one Buffer per batch plus an index of (offset, length,
// type|flags) per datagram. Every decision about what a record means lives in
// lib/ (TypeScript), where it can be tested without a kernel.

#include <napi.h>

#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
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
constexpr uint32_t kFlagTruncated = 1u << 16;
constexpr size_t kPublishBytes = 256 * 1024;
// Once the socket is readable, the reader waits kCoalesceMicros before
// receiving, so one receive (and one wake-up of JS) takes what arrived in that
// time: at 5,000 records/s a batch of a few instead of one each, under a flood
// a full batch. It adds at most that much latency.
constexpr long kCoalesceMicros = 500;

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

// One allocation the reader fills front to back. Batches are slices of it; each
// Buffer handed to JS holds a reference, the reader holds one while writing, and
// the memory goes when the last of them lets go.
//
// Chunks are mapped, not malloc'd: glibc raises its mmap threshold to the size
// of the first large block freed, so later 4 MiB chunks would come from the
// reader thread's arena, freed out of order by V8's finalizers, and the
// process's RSS would creep up under sustained load (seen in the 10-minute
// soak). munmap gives the pages back the moment the last reference goes.
struct Chunk {
  uint8_t* data;
  size_t capacity;
  size_t used = 0;
  std::atomic<int> refs{1};

  explicit Chunk(size_t cap) : data(Map(cap)), capacity(cap) {}
  ~Chunk() { ::munmap(data, capacity); }
  static uint8_t* Map(size_t cap) {
    void* p = ::mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return static_cast<uint8_t*>(p);
  }
  void Ref() { refs.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
};

struct Batch {
  Chunk* chunk;  // holds one reference until taken
  size_t start;
  size_t length;
  std::vector<uint32_t> index;
};

struct BatchHint {
  Chunk* chunk;
  size_t length;
};

struct Counters {
  double datagrams = 0;   // accepted into batches
  double bytes = 0;       // bytes of accepted datagrams
  double batches = 0;
  double overruns = 0;    // ENOBUFS: the socket buffer overflowed, the kernel dropped
  double dropped = 0;     // datagrams discarded here because the buffer bound was hit
  double droppedBytes = 0;
  double spoofed = 0;     // sender port id was not the kernel's (0)
  double truncated = 0;   // longer than a slot; delivered flagged
  double pendingBytes = 0;
  double peakPendingBytes = 0;
  double blockedMs = 0;   // time the reader spent not reading because the bound was hit
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
                           InstanceMethod<&AuditSocket::Close>("close"),
                           InstanceAccessor<&AuditSocket::PortId>("portId"),
                           InstanceAccessor<&AuditSocket::Closed>("closed"),
                       });
  }

  // new AuditSocket({ multicast, bufferBytes, chunkBytes, dropOnOverflow })
  explicit AuditSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AuditSocket>(info) {
    Napi::Env env = info.Env();
    Napi::Object opts = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>()
                                                                : Napi::Object::New(env);
    bool multicast = opts.Has("multicast") && opts.Get("multicast").ToBoolean();
    if (opts.Has("bufferBytes")) bufferBytes_ = opts.Get("bufferBytes").ToNumber().Int64Value();
    if (opts.Has("chunkBytes")) chunkBytes_ = opts.Get("chunkBytes").ToNumber().Int64Value();
    dropOnOverflow_ = opts.Has("dropOnOverflow") && opts.Get("dropOnOverflow").ToBoolean();
    if (chunkBytes_ < kSlotBytes * 4) chunkBytes_ = kSlotBytes * 4;
    if (bufferBytes_ < chunkBytes_) bufferBytes_ = chunkBytes_;

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

  // take(maxBytes) -> { batches: [data0, index0, data1, index1, ...], sendErrors:
  // [seq0, errno0, ...] }: waiting batches, at least one and about maxBytes in
  // all, and the posted messages that failed. index is a Uint32Array of
  // (offset, length, type | flags << 16) per datagram, offsets relative to
  // data. What is not taken stays counted against the bound. Throws the
  // reader's error once all data before it is taken.
  Napi::Value Take(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double maxBytes = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 1e18;
    std::deque<Batch> batches;
    std::vector<uint32_t> sendErrors;
    int err = 0;
    const char* errSyscall = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      double taken = 0;
      while (!pending_.empty() && (batches.empty() || taken < maxBytes)) {
        taken += static_cast<double>(pending_.front().length);
        batches.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
      counters_.pendingBytes -= taken;
      sendErrors.swap(sendErrors_);
      // Notify again only once JS has seen everything: until then it is still
      // taking, and a notification would only wake it for nothing.
      if (pending_.empty()) notified_ = false;
      if (batches.empty() && sendErrors.empty() && readerErrno_ != 0) {
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
    for (Batch& b : batches) {
      // Tell V8 what these small Buffer objects hold, or it sees no reason to
      // collect them and the chunks behind them pile up between GCs.
      Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(b.length));
      Napi::Buffer<uint8_t> data = Napi::Buffer<uint8_t>::New(
          env, b.chunk->data + b.start, b.length,
          [](Napi::Env e, uint8_t*, BatchHint* hint) {
            Napi::MemoryManagement::AdjustExternalMemory(e, -static_cast<int64_t>(hint->length));
            hint->chunk->Unref();
            delete hint;
          },
          new BatchHint{b.chunk, b.length});
      Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, b.index.size() * sizeof(uint32_t));
      std::memcpy(ab.Data(), b.index.data(), b.index.size() * sizeof(uint32_t));
      out.Set(i++, data);
      out.Set(i++, Napi::Uint32Array::New(env, b.index.size(), ab, 0));
    }
    Napi::Array errors = Napi::Array::New(env, sendErrors.size());
    for (uint32_t k = 0; k < sendErrors.size(); k++) errors.Set(k, Napi::Number::New(env, sendErrors[k]));
    Napi::Object result = Napi::Object::New(env);
    result.Set("batches", out);
    result.Set("sendErrors", errors);
    return result;
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
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    farewell_.clear();
    farewellFile_.clear();
    StopReader();
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
    std::lock_guard<std::mutex> lock(mutex_);
    for (Batch& b : pending_) b.chunk->Unref();
    pending_.clear();
    counters_.pendingBytes = 0;
  }

  void CloseFd() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  // --- reader thread -------------------------------------------------------

  void ReaderLoop() {
    Chunk* chunk = new Chunk(chunkBytes_);
    size_t batchStart = 0;
    std::vector<uint32_t> index;
    index.reserve(1024);
    std::vector<uint8_t> scratch;  // receives datagrams dropped on overflow
    mmsghdr msgs[kMaxVlen];
    iovec iovs[kMaxVlen];
    sockaddr_nl from[kMaxVlen];
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wakeFd_, POLLIN, 0}};

    auto publish = [&]() {
      if (index.empty()) return;
      Batch b{chunk, batchStart, chunk->used - batchStart, std::move(index)};
      chunk->Ref();
      bool notify;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        counters_.pendingBytes += static_cast<double>(b.length);
        if (counters_.pendingBytes > counters_.peakPendingBytes)
          counters_.peakPendingBytes = counters_.pendingBytes;
        counters_.batches++;
        pending_.push_back(std::move(b));
        notify = !notified_;
        notified_ = true;
      }
      if (notify) tsfn_.NonBlockingCall(CallOnReadable);
      index.clear();
      index.reserve(1024);
      batchStart = chunk->used;
    };

    auto fail = [&](int err, const char* syscall) {
      publish();
      bool notify;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        readerErrno_ = err;
        readerSyscall_ = syscall;
        notify = !notified_;
        notified_ = true;
      }
      if (notify) tsfn_.NonBlockingCall(CallOnReadable);
    };

    while (true) {
      // Hold back while the bound is reached, unless told to drop instead: the
      // socket buffer and then the kernel backlog take the load meanwhile.
      bool dropping = false;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        if (stopping_) break;
        if (counters_.pendingBytes + static_cast<double>(chunk->used - batchStart) >=
            static_cast<double>(bufferBytes_)) {
          if (dropOnOverflow_) {
            dropping = true;
          } else {
            auto t0 = std::chrono::steady_clock::now();
            space_.wait(lock, [&] {
              return stopping_ || counters_.pendingBytes < static_cast<double>(bufferBytes_) / 2;
            });
            counters_.blockedMs += std::chrono::duration<double, std::milli>(
                                       std::chrono::steady_clock::now() - t0)
                                       .count();
            if (stopping_) break;
          }
        }
      }

      int pr = ::poll(fds, 2, -1);
      if (pr < 0) {
        if (errno == EINTR) continue;
        fail(errno, "poll");
        break;
      }
      if (fds[1].revents & POLLIN) break;  // close() woke us
      if (!(fds[0].revents & (POLLIN | POLLERR))) continue;
      {
        timespec pause{0, kCoalesceMicros * 1000};
        ::nanosleep(&pause, nullptr);
      }

      // Drain until the socket is empty, then publish what we have.
      while (true) {
        if (dropping) {
          if (scratch.empty()) scratch.resize(kSlotBytes);
          ssize_t n = ::recv(fd_, scratch.data(), scratch.size(), MSG_DONTWAIT | MSG_TRUNC);
          if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOBUFS) {
              std::lock_guard<std::mutex> lock(mutex_);
              counters_.overruns++;
              continue;
            }
            if (errno != EAGAIN) fail(errno, "recv");
            break;
          }
          std::lock_guard<std::mutex> lock(mutex_);
          counters_.dropped++;
          counters_.droppedBytes += static_cast<double>(n);
          if (stopping_ || counters_.pendingBytes < static_cast<double>(bufferBytes_)) break;
          continue;
        }

        size_t room = chunk->capacity - chunk->used;
        if (room < kSlotBytes) {
          publish();
          chunk->Unref();
          chunk = new Chunk(chunkBytes_);
          batchStart = 0;
          room = chunk->capacity;
        }
        unsigned vlen = static_cast<unsigned>(room / kSlotBytes);
        if (vlen > kMaxVlen) vlen = kMaxVlen;
        for (unsigned i = 0; i < vlen; i++) {
          iovs[i].iov_base = chunk->data + chunk->used + i * kSlotBytes;
          iovs[i].iov_len = kSlotBytes;
          msgs[i].msg_hdr = msghdr{};
          msgs[i].msg_hdr.msg_name = &from[i];
          msgs[i].msg_hdr.msg_namelen = sizeof from[i];
          msgs[i].msg_hdr.msg_iov = &iovs[i];
          msgs[i].msg_hdr.msg_iovlen = 1;
          msgs[i].msg_len = 0;
        }
        int got = ::recvmmsg(fd_, msgs, vlen, MSG_DONTWAIT | MSG_TRUNC, nullptr);
        if (got < 0) {
          if (errno == EINTR) continue;
          if (errno == ENOBUFS) {
            std::lock_guard<std::mutex> lock(mutex_);
            counters_.overruns++;
            continue;
          }
          if (errno != EAGAIN && errno != EWOULDBLOCK) {
            fail(errno, "recvmmsg");
            goto done;
          }
          break;
        }

        // Slots are 16 KiB apart; pack the datagrams end to end so the batch
        // (and the bound) counts only bytes that carry records.
        double accepted = 0, acceptedBytes = 0, spoofed = 0, truncated = 0;
        size_t write = chunk->used;
        for (int i = 0; i < got; i++) {
          if (from[i].nl_pid != 0) {
            spoofed++;
            continue;
          }
          size_t len = msgs[i].msg_len;
          uint32_t flags = 0;
          if ((msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || len > kSlotBytes) {
            flags |= kFlagTruncated;
            len = kSlotBytes;
            truncated++;
          }
          uint8_t* src = static_cast<uint8_t*>(iovs[i].iov_base);
          if (src != chunk->data + write) std::memmove(chunk->data + write, src, len);
          // nlmsg_type, little-endian as the kernel wrote it (host order).
          uint32_t type = 0;
          if (len >= 6)
            type = static_cast<uint32_t>(chunk->data[write + 4]) |
                   static_cast<uint32_t>(chunk->data[write + 5]) << 8;
          index.push_back(static_cast<uint32_t>(write - batchStart));
          index.push_back(static_cast<uint32_t>(len));
          index.push_back(type | flags);
          write += len;
          accepted++;
          acceptedBytes += static_cast<double>(len);
        }
        chunk->used = write;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          counters_.datagrams += accepted;
          counters_.bytes += acceptedBytes;
          counters_.spoofed += spoofed;
          counters_.truncated += truncated;
        }
        if (static_cast<unsigned>(got) < vlen) break;  // socket drained
        // Under a sustained flood the socket never drains: hand over what we
        // have now and then, so JS works in parallel and latency stays low.
        if (chunk->used - batchStart >= kPublishBytes) publish();
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) break;
        if (counters_.pendingBytes + static_cast<double>(chunk->used - batchStart) >=
            static_cast<double>(bufferBytes_))
          break;
      }
      publish();
    }
  done:
    publish();
    chunk->Unref();
  }

  int fd_ = -1;
  int wakeFd_ = -1;
  uint32_t portId_ = 0;
  size_t bufferBytes_ = 64 << 20;
  size_t chunkBytes_ = 4 << 20;
  bool dropOnOverflow_ = false;
  bool cleanupHookAdded_ = false;
  std::vector<std::vector<uint8_t>> farewell_;
  std::string farewellFile_;
  napi_env env_ = nullptr;

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
  std::deque<Batch> pending_;
  Counters counters_;
  bool notified_ = false;
  bool stopping_ = false;
  int readerErrno_ = 0;
  const char* readerSyscall_ = nullptr;
};

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  exports.Set("AuditSocket", AuditSocket::Init(env));
  exports.Set("SLOT_BYTES", Napi::Number::New(env, kSlotBytes));
  exports.Set("FLAG_TRUNCATED", Napi::Number::New(env, kFlagTruncated));
  return exports;
}

}  // namespace

NODE_API_MODULE(linux_audit, InitModule)
