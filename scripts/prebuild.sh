#!/usr/bin/env bash
# Prebuilt addons for the npm package: N-API, linux-x64 and linux-arm64, glibc.
# Each is tagged `glibc` (prebuildify --tag-libc) so node-gyp-build never loads
# one on musl (Alpine compiles from source). arm64 is cross-compiled with
# Debian's g++-aarch64-linux-gnu.
#
# Then each binary is checked: its machine, and the newest glibc and libstdc++
# symbol versions it needs. Those decide where it loads: GLIBC_2.17 and
# GLIBCXX_3.4.29 (libstdc++ of GCC 11) cover Debian 12, Ubuntu 22.04, RHEL 9
# and Amazon Linux 2023. Where it does not load, node-gyp-build's install
# script compiles from source instead (node-gyp-build-test fails first).
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_GLIBC=2.17
MAX_GLIBCXX=3.4.29

for tool in aarch64-linux-gnu-g++ aarch64-linux-gnu-strip; do
  if ! command -v "$tool" >/dev/null; then
    echo "prebuild: $tool not found; install g++-aarch64-linux-gnu (Debian/Ubuntu) to cross-compile the arm64 prebuild" >&2
    exit 1
  fi
done

rm -rf prebuilds
npx prebuildify --napi --strip --tag-libc
CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
  npx prebuildify --napi --strip --strip-bin aarch64-linux-gnu-strip --tag-libc --arch arm64
# prebuildify leaves build/ holding the last (arm64) build; put this machine's back.
npx node-gyp rebuild >/dev/null

newest() { grep -o "$1_[0-9.]*" | sed "s/^$1_//" | sort -V | tail -1; }
check() {
  local file=$1 machine=$2 objdump=$3
  [ -f "$file" ] || { echo "prebuild: $file was not made" >&2; exit 1; }
  file -b "$file" | grep -q "$machine" || { echo "prebuild: $file is not $machine: $(file -b "$file")" >&2; exit 1; }
  local symbols glibc glibcxx
  symbols=$("$objdump" -T "$file")
  glibc=$(newest GLIBC <<<"$symbols")
  glibcxx=$(newest GLIBCXX <<<"$symbols")
  for pair in "GLIBC $glibc $MAX_GLIBC" "GLIBCXX $glibcxx $MAX_GLIBCXX"; do
    set -- $pair
    if [ "$(printf '%s\n%s\n' "$2" "$3" | sort -V | tail -1)" != "$3" ]; then
      echo "prebuild: $file needs $1_$2, newer than $1_$3: it would not load on the systems the README promises" >&2
      exit 1
    fi
  done
  echo "prebuild: $file ($machine) needs GLIBC_$glibc, GLIBCXX_$glibcxx"
}
check prebuilds/linux-x64/linux-audit.glibc.node x86-64 objdump
check prebuilds/linux-arm64/linux-audit.glibc.node aarch64 aarch64-linux-gnu-objdump
