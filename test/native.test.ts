import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { addon } from '../lib/native/index.js';
import { AuditChannel } from '../lib/transport/channel.js';
import { settledResources } from './helpers/live.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Opening and binding a NETLINK_AUDIT socket needs no privilege and changes no kernel state.

describe('native socket lifecycle', () => {
  it('receives any record the kernel writes whole', () => {
    expect(addon.SLOT_BYTES).toBeGreaterThanOrEqual(8970 + 16); // MAX_AUDIT_MESSAGE_LENGTH + header
  });

  it('opens with a kernel-assigned port id and closes twice safely', () => {
    const s = new addon.AuditSocket();
    expect(s.portId).toBeGreaterThan(0);
    expect(s.closed).toBe(false);
    s.start(() => undefined);
    s.close();
    s.close();
    expect(s.closed).toBe(true);
    const taken = s.take();
    expect([...taken]).toEqual([]);
    expect([taken.control, taken.sendErrors, taken.more]).toEqual([undefined, undefined, undefined]);
    expect(() => s.send(Buffer.alloc(16))).toThrow(/closed/);
  });

  it('names its reader thread la-reader, for top -H and the benchmark', async () => {
    const names = () =>
      fs.readdirSync('/proc/self/task').map((t) => {
        try {
          return fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim();
        } catch {
          return ''; // a thread that ended meanwhile
        }
      });
    // close() joins its thread; the kernel drops the task from /proc a moment after.
    const readerGone = async () => {
      for (let waited = 0; names().includes('la-reader') && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      return !names().includes('la-reader');
    };
    const s = new addon.AuditSocket();
    expect(await readerGone()).toBe(true); // none left by the tests before
    s.start(() => undefined);
    // The thread names itself once it runs, which may be after start() returns.
    for (let waited = 0; !names().includes('la-reader') && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    expect(names()).toContain('la-reader');
    s.close();
    expect(await readerGone()).toBe(true);
  });

  it('1,000 open/start/close cycles leak no fd, thread or memory', async () => {
    const warm = new addon.AuditSocket();
    warm.start(() => undefined);
    warm.close();
    global.gc?.();
    const base = await settledResources();
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < 1000; i++) {
      const s = new addon.AuditSocket({ bufferBytes: 1 << 20 });
      s.start(() => undefined);
      s.close();
    }
    expect(await settledResources()).toEqual(base);
    // Each cycle allocates 1 MiB of receive slots; 1,000 leaked ones would be 1 GiB.
    expect(process.memoryUsage().rss - rss0).toBeLessThan(64 << 20);
  });

  it('a worker thread can open, start and close a socket, or just exit and leave cleanup to the addon', async () => {
    const base = await settledResources();
    const run = (close: boolean) =>
      new Promise<number>((resolve, reject) => {
        const w = new Worker(
          `const { createRequire } = require('node:module');
           const load = createRequire(${JSON.stringify(root + '/')})('node-gyp-build');
           const { AuditSocket } = load(${JSON.stringify(root)});
           const s = new AuditSocket();
           s.start(() => {});
           if (${close}) { s.close(); s.close(); }
           require('node:worker_threads').parentPort.postMessage('ok');`,
          { eval: true },
        );
        w.on('message', () => void w.terminate().then(resolve));
        w.on('error', reject);
      });
    await run(true);
    await run(false);
    expect(await settledResources()).toEqual(base);
  });

  it('a process that exits with a started socket exits cleanly', () => {
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        `const load = require('node-gyp-build'); const { AuditSocket } = load(${JSON.stringify(root)});
         const s = new AuditSocket(); s.start(() => {}); setTimeout(() => process.exit(7), 50);`,
      ],
      { cwd: root, encoding: 'utf8', timeout: 10_000 },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(7);
  });

  it('refuses sizes no thread could use, before any thread starts', () => {
    for (const [options, message] of [
      [{ bufferBytes: 2 ** 60 }, /bufferBytes/],
      [{ bufferBytes: -1 }, /bufferBytes/],
      [{ bufferBytes: Number.NaN }, /bufferBytes/],
      [{ bufferBytes: 1.5e6 + 0.5 }, /bufferBytes/],
      [{ latencyMs: -1 }, /latencyMs/],
      [{ assemble: { maxInFlight: 0 } }, /maxInFlight/],
      [{ assemble: { timeoutMs: 2 ** 53 } }, /timeoutMs/],
      [{ assemble: { typeClass: new Uint8Array(10) } }, /typeClass/],
    ] as const) {
      expect(() => new addon.AuditSocket(options as never), JSON.stringify(options)).toThrow(message);
    }
  });

  it('refuses requests on a closed socket with a coded error', async () => {
    const ch = new AuditChannel();
    ch.close();
    await expect(ch.request(1000)).rejects.toMatchObject({ code: 'ERR_SOCKET_CLOSED', message: expect.stringMatching(/closed/) });
  });
});
