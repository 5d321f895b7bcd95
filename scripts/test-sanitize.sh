#!/usr/bin/env bash
# The addon built with AddressSanitizer and UndefinedBehaviorSanitizer, then the
# tests that drive it hardest (the native layer, subscriptions, faults) against
# the real kernel. Any sanitizer report aborts the process and fails the run.
# The normal build is put back afterwards, whatever happened.
set -euo pipefail
cd "$(dirname "$0")/.."

restore() { npx node-gyp rebuild >/dev/null 2>&1 || echo "test:sanitize: could not rebuild the normal addon; run npx node-gyp rebuild" >&2; }
trap restore EXIT

# The assembler's harness (the reader thread's assembler without a kernel, its own program) under ASan
# and UBSan, through its tests and the fuzzing that feeds it any bytes and mutated records; first, while
# the addon the other tests load is still the normal one.
LINUX_AUDIT_HARNESS_SANITIZE=1 npx vitest run test/native-assembler.test.ts test/properties.test.ts

npx node-gyp rebuild --sanitize=1 >/dev/null
# The check that the build is instrumented: without it, a clean run would prove nothing.
if ! nm -D build/Release/linux_audit.node | grep __asan_ >/dev/null; then
  echo "test:sanitize: the addon was not built with ASan" >&2
  exit 1
fi

# node itself is not instrumented, so the runtimes are preloaded. Leak checking
# is left to valgrind (scripts/valgrind-native.mjs): node's own allocations at
# exit would drown LeakSanitizer's report.
LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)" \
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  npx vitest run test/native.test.ts test/client.test.ts test/live/subscribe.test.ts test/live/faults.test.ts test/live/client.test.ts
