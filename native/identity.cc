// User and group names as the system gives them (NSS: files, sssd, LDAP,
// extrausers …), looked up off the JS thread: an NSS module may wait on the
// network for seconds, and the JS thread is where the events are.
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "identity.h"

namespace la {
namespace {

class IdentityLookup : public Napi::AsyncWorker {
 public:
  IdentityLookup(Napi::Function callback, bool group, uint32_t id) : Napi::AsyncWorker(callback), group_(group), id_(id) {}

  void Execute() override {
    // getpwuid_r wants a buffer big enough for the entry; an entry with many
    // group members may need more than the hint: grow on ERANGE, to a bound.
    long hint = sysconf(group_ ? _SC_GETGR_R_SIZE_MAX : _SC_GETPW_R_SIZE_MAX);
    size_t size = hint > 0 ? static_cast<size_t>(hint) : 16384;
    for (;;) {
      std::vector<char> buffer(size);
      int rc;
      const char* name = nullptr;
      if (group_) {
        struct group entry;
        struct group* found = nullptr;
        rc = getgrgid_r(id_, &entry, buffer.data(), buffer.size(), &found);
        if (rc == 0 && found != nullptr) name = found->gr_name;
      } else {
        struct passwd entry;
        struct passwd* found = nullptr;
        rc = getpwuid_r(id_, &entry, buffer.data(), buffer.size(), &found);
        if (rc == 0 && found != nullptr) name = found->pw_name;
      }
      if (rc == ERANGE && size < (1u << 20)) {
        size *= 2;
        continue;
      }
      // No entry is rc 0 with nothing found, or one of these, as POSIX allows.
      if (rc != 0 && rc != ENOENT && rc != ESRCH && rc != EBADF && rc != EPERM) {
        SetError(std::string(group_ ? "getgrgid_r: " : "getpwuid_r: ") + std::strerror(rc));
        return;
      }
      if (name != nullptr) {
        found_ = true;
        name_ = name;
      }
      return;
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Callback().Call({env.Null(), found_ ? Napi::String::New(env, name_) : env.Null()});
  }

 private:
  bool group_;
  uint32_t id_;
  bool found_ = false;
  std::string name_;
};

}  // namespace

// lookupIdentity(kind: 'passwd' | 'group', id, callback(err, name | null))
Napi::Value LookupIdentity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsFunction()) {
    throw Napi::TypeError::New(env, "lookupIdentity(kind, id, callback): kind is 'passwd' or 'group', id a number");
  }
  std::string kind = info[0].As<Napi::String>().Utf8Value();
  if (kind != "passwd" && kind != "group") throw Napi::TypeError::New(env, "lookupIdentity: kind is 'passwd' or 'group'");
  double id = info[1].As<Napi::Number>().DoubleValue();
  if (!(id >= 0 && id <= 4294967294.0) || id != static_cast<double>(static_cast<uint32_t>(id))) {
    throw Napi::RangeError::New(env, "lookupIdentity: id must be a whole number from 0 to 4294967294");
  }
  (new IdentityLookup(info[2].As<Napi::Function>(), kind == "group", static_cast<uint32_t>(id)))->Queue();
  return env.Undefined();
}

}  // namespace la
