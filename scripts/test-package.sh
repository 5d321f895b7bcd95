#!/usr/bin/env bash
# The package as a user gets it: `npm pack` (which makes the prebuilds), then
# the tarball installed into an empty directory by an npm whose PATH has no
# compiler, make or python, so nothing can be built there. From that directory:
#   - the command runs (`--help`) and, as root, a live `tail --count 1` gets an event;
#   - ES module and CommonJS consumers load `linux-audit`, `linux-audit/parse`
#     and `linux-audit/rules`, and TypeScript resolves their types;
#   - with the addon deleted, the two subpaths still load and work, and the
#     root entry fails with node-gyp-build's message.
# Needs root for the live part and the cross-compiler for the arm64 prebuild.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d /tmp/linux-audit-package-XXXXXX)
cleanup() {
  if [ -n "${tail_pid:-}" ]; then kill "$tail_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "test:package: $*" >&2; exit 1; }

npm pack --pack-destination "$work" >"$work/pack.log" 2>&1 || { cat "$work/pack.log" >&2; fail "npm pack failed"; }
tarball=$(ls "$work"/linux-audit-*.tgz)
listing=$(tar -tzf "$tarball")
for f in package/prebuilds/linux-x64/linux-audit.glibc.node package/prebuilds/linux-arm64/linux-audit.glibc.node \
         package/dist/index.js package/dist/parse.js package/dist/rules.js package/dist/cli/main.js; do
  grep -qx "$f" <<<"$listing" || fail "the tarball has no $f"
done
if grep -q '^package/test/' <<<"$listing"; then fail "the tarball carries test/ (the corpus is not for users)"; fi

# A PATH with node and npm and the basic tools, and no compiler, make or python.
bin="$work/bin"
mkdir -p "$bin"
for tool in node npm npx sh bash env cat ls rm mkdir cp mv sed grep dirname basename uname tar gzip id sleep touch kill; do
  ln -s "$(command -v "$tool")" "$bin/$tool"
done
for tool in cc gcc g++ c++ make python3; do
  if PATH="$bin" command -v "$tool" >/dev/null 2>&1; then fail "$tool is on the restricted PATH"; fi
done

app="$work/app"
mkdir -p "$app"
cd "$app"
echo '{ "name": "consumer", "version": "1.0.0", "private": true }' >package.json
PATH="$bin" npm install --no-audit --no-fund --prefer-offline "$tarball" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; fail "npm install of the tarball failed without a compiler"; }
installed="$app/node_modules/linux-audit"
[ ! -e "$installed/build" ] || fail "the install compiled the addon (build/ exists) instead of using the prebuild"
la="$app/node_modules/.bin/linux-audit"

PATH="$bin" "$la" --help >"$work/help.txt" || fail "linux-audit --help failed"
grep -q 'tail' "$work/help.txt" || fail "linux-audit --help does not list tail: $(cat "$work/help.txt")"

# ES modules and CommonJS, each entry point.
cat >esm.mjs <<'EOF'
import * as audit from 'linux-audit';
import { parseLogLine, readAuditLog } from 'linux-audit/parse';
import { parseRuleLine, formatRule, encodeRule } from 'linux-audit/rules';
if (typeof audit.subscribe !== 'function' || typeof audit.AuditClient?.open !== 'function') throw new Error('root: no subscribe/AuditClient');
if (audit.parseLogLine !== parseLogLine) throw new Error('root and linux-audit/parse export different parseLogLine');
const r = parseLogLine('type=CWD msg=audit(1700000000.123:7): cwd="/root"');
if (r.typeName !== 'CWD' || r.serial !== 7 || r.fields.cwd !== '/root') throw new Error(`parse: ${JSON.stringify(r)}`);
const rule = parseRuleLine('-a always,exit -F arch=b64 -S execve -k exec').rule;
if (formatRule(rule) !== '-a always,exit -F arch=b64 -S execve -F key=exec') throw new Error(`rules: ${formatRule(rule)}`);
if (!(encodeRule(rule).length > 1040)) throw new Error('rules: encoding too short');
let events = 0;
for await (const ev of readAuditLog(['type=SYSCALL msg=audit(1.000:1): syscall=59 key="k"\ntype=EOE msg=audit(1.000:1): \n'])) events += ev.keys[0] === 'k' ? 1 : 0;
if (events !== 1) throw new Error('readAuditLog gave no event');
console.log('esm ok');
EOF
cat >cjs.cjs <<'EOF'
const audit = require('linux-audit');
const parse = require('linux-audit/parse');
const rules = require('linux-audit/rules');
if (typeof audit.subscribe !== 'function') throw new Error('root: no subscribe');
if (parse.parseLogLine('type=EOE msg=audit(1.000:9): ').serial !== 9) throw new Error('parse');
if (rules.formatRule(rules.parseRuleLine('-w /etc/passwd -p wa -k identity').rule) !== '-w /etc/passwd -p wa -k identity') throw new Error('rules');
console.log('cjs ok');
EOF
cat >types.ts <<'EOF'
import { subscribe, type AuditEvent } from 'linux-audit';
import { parseLogLine, type AuditRecord } from 'linux-audit/parse';
import { parseRules, type AuditRule } from 'linux-audit/rules';
const record: AuditRecord | undefined = parseLogLine('type=EOE msg=audit(1.000:9): ');
const rules: AuditRule[] = parseRules('-w /etc/passwd -p wa').flatMap(({ command }) => (command.kind === 'add' ? [command.rule] : []));
export const use = (ev: AuditEvent): string[] => ev.keys;
export { subscribe, record, rules };
EOF
# A consumer's usual set-up: strict, nodenext, @types/node (the repository's copy, to stay offline).
echo "{ \"compilerOptions\": { \"module\": \"nodenext\", \"moduleResolution\": \"nodenext\", \"target\": \"es2022\", \"strict\": true, \"noEmit\": true, \"typeRoots\": [\"$repo/node_modules/@types\"], \"types\": [\"node\"] }, \"files\": [\"types.ts\"] }" >tsconfig.json
[ "$(PATH="$bin" node esm.mjs)" = "esm ok" ] || fail "an ES module consumer could not use the package"
[ "$(PATH="$bin" node cjs.cjs 2>"$work/cjs.err")" = "cjs ok" ] || { cat "$work/cjs.err" >&2; fail "a CommonJS consumer could not use the package"; }
if [ -s "$work/cjs.err" ]; then cat "$work/cjs.err" >&2; fail "require() printed warnings"; fi
PATH="$bin" node "$repo/node_modules/typescript/bin/tsc" -p tsconfig.json || fail "TypeScript could not resolve the package's types"

# Live, as root: one event through the installed command.
if [ "$(id -u)" = 0 ]; then
  target="$work/watched"
  : >"$target"
  echo "-w $target -p wa -k package-test" >"$work/rules"
  PATH="$bin" "$la" tail --count 1 --key package-test --format json --mode unicast --rules "$work/rules" >"$work/tail.json" 2>"$work/tail.err" &
  tail_pid=$!
  for _ in $(seq 1 100); do
    kill -0 "$tail_pid" 2>/dev/null || break
    echo x >>"$target"
    sleep 0.1
  done
  wait "$tail_pid" || { cat "$work/tail.err" >&2; fail "linux-audit tail --count 1 failed"; }
  tail_pid=
  grep -q '"package-test"' "$work/tail.json" || fail "tail gave no event with the rule's key: $(cat "$work/tail.json" "$work/tail.err")"
else
  echo "test:package: not root: the live tail was not run" >&2
  [ -z "${LINUX_AUDIT_REQUIRE_LIVE:-}" ] || fail "LINUX_AUDIT_REQUIRE_LIVE is set and the live tail needs root"
fi

# Without the addon: the subpaths work, the root entry says what is missing.
rm -rf "$installed/prebuilds"
cat >noaddon.mjs <<'EOF'
const { parseLogLine } = await import('linux-audit/parse');
const { parseRuleLine } = await import('linux-audit/rules');
if (parseLogLine('type=EOE msg=audit(1.000:9): ').serial !== 9 || !parseRuleLine('-w /etc/shadow').rule) throw new Error('subpaths');
try {
  await import('linux-audit');
  throw new Error('the root entry loaded with no addon');
} catch (e) {
  if (!/No native build was found/.test(e.message)) throw e;
}
console.log('no addon ok');
EOF
[ "$(PATH="$bin" node noaddon.mjs)" = "no addon ok" ] || fail "without the addon the subpaths did not load, or the root entry did not fail as documented"
echo "test:package: ok ($(basename "$tarball"), $(du -k "$tarball" | cut -f1) KiB)"
