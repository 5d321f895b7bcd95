// Names the system knows beyond /etc/passwd: an NSS source (here
// libnss-extrausers, standing where sssd or LDAP would) names an id the
// files do not, and events name it once the system has answered, asked on a
// worker thread. The test adds extrausers to /etc/nsswitch.conf and its own
// user and group, and puts everything back after, also when it fails.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { subscribe } from '../../lib/index.js';
import { describeLive, kernelSnapshot, restoreKernel, type KernelSnapshot } from '../helpers/live.js';

const NSSWITCH = '/etc/nsswitch.conf';
const DIR = '/var/lib/extrausers';
const KEY = `la_nss_${process.pid}`;
const UID = 4242;
const GID = 4243;
const NOBODY_KNOWS = 4244;

describeLive('names from the system (NSS beyond the files)', () => {
  let before: KernelSnapshot;
  const saved = new Map<string, string | undefined>();
  let madeDir = false;

  beforeAll(async () => {
    before = await kernelSnapshot();
    madeDir = !fs.existsSync(DIR);
    fs.mkdirSync(DIR, { recursive: true });
    for (const f of [NSSWITCH, `${DIR}/passwd`, `${DIR}/group`]) saved.set(f, fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : undefined);
    fs.writeFileSync(`${DIR}/passwd`, `la-nss-user:x:${UID}:${GID}:linux-audit test:/nonexistent:/usr/sbin/nologin\n`);
    fs.writeFileSync(`${DIR}/group`, `la-nss-group:x:${GID}:\n`);
    fs.writeFileSync(NSSWITCH, saved.get(NSSWITCH)!.replace(/^(passwd|group):(.*)$/gm, '$1:$2 extrausers'));
    // The premise: the system names them, the files do not.
    expect(spawnSync('getent', ['passwd', String(UID)], { encoding: 'utf8' }).stdout).toMatch(/^la-nss-user:/);
    expect(fs.readFileSync('/etc/passwd', 'utf8')).not.toMatch(new RegExp(`^[^:]*:[^:]*:${UID}:`, 'm'));
  });

  afterAll(async () => {
    for (const [f, text] of saved) {
      if (text === undefined) fs.rmSync(f, { force: true });
      else fs.writeFileSync(f, text);
    }
    if (madeDir) fs.rmSync(DIR, { recursive: true, force: true });
    spawnSync('auditctl', ['-D', '-k', KEY]);
    await restoreKernel(before);
  });

  it('an id only NSS knows is named once the system has answered; one nobody knows stays unknown(N)', async () => {
    const sub = subscribe({ mode: 'unicast', enable: true, rules: [`-a always,exit -F arch=b64 -S execve -F exe=/bin/true -F key=${KEY}`] });
    await sub.ready;
    const seen: Array<{ uid: string; gid: string; raw: string }> = [];
    const consume = (async () => {
      for await (const ev of sub) {
        if (!ev.keys.includes(KEY)) continue;
        const sc = ev.record('SYSCALL');
        if (sc === undefined) continue; // the rule's own CONFIG_CHANGE carries the key too
        seen.push({ uid: sc.interpreted.uid, gid: sc.interpreted.gid, raw: sc.fields.uid });
      }
    })();
    try {
      for (let i = 0; i < 50 && !seen.some((s) => s.uid === 'la-nss-user'); i++) {
        spawnSync('/bin/true', [], { uid: UID, gid: GID });
        await new Promise((r) => setTimeout(r, 50));
      }
      spawnSync('/bin/true', [], { uid: NOBODY_KNOWS, gid: NOBODY_KNOWS });
      const end = Date.now() + 5000;
      while (!seen.some((s) => s.raw === String(NOBODY_KNOWS)) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await sub.close();
      await consume;
    }
    const mine = seen.filter((s) => s.raw === String(UID));
    // Each is right or says it does not know: never another user's name.
    for (const s of mine) expect(['la-nss-user', `unknown(${UID})`]).toContain(s.uid);
    expect(mine.at(-1)).toMatchObject({ uid: 'la-nss-user', gid: 'la-nss-group' });
    expect(seen.find((s) => s.raw === String(NOBODY_KNOWS))).toMatchObject({ uid: `unknown(${NOBODY_KNOWS})`, gid: `unknown(${NOBODY_KNOWS})` });
  });
}, { getent: 'libc-bin', '/usr/lib/libnss_extrausers.so.2': 'libnss-extrausers' });
