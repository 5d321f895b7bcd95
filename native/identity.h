// Names of users and groups from the system's NSS, looked up on a worker thread.
#pragma once

#include <napi.h>

namespace la {

Napi::Value LookupIdentity(const Napi::CallbackInfo& info);

}  // namespace la
