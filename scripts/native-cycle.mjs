// The native socket's whole life, many times: open, size the buffer, start the
// reader thread, ask the kernel for its status, take the reply, close. Run
// under valgrind by scripts/valgrind-native.mjs.
import { addon } from '../dist/native/index.js';

const AUDIT_GET = 1000;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const cycles = Number(process.argv[2] ?? 20);

for (let i = 0; i < cycles; i++) {
  const socket = new addon.AuditSocket({ bufferBytes: 1 << 20 });
  socket.setReceiveBuffer(1 << 20);
  let readable;
  const woke = new Promise((resolve) => (readable = resolve));
  socket.start(() => readable());
  const msg = Buffer.alloc(16);
  msg.writeUInt32LE(16, 0);
  msg.writeUInt16LE(AUDIT_GET, 4);
  msg.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK, 6);
  msg.writeUInt32LE(i + 1, 8);
  socket.send(msg);
  await woke;
  // A reply to a request comes back apart from the events: take().control.
  const { control } = socket.take();
  if (control.length === 0) throw new Error('no reply from the kernel');
  socket.close();
}
console.log(`native-cycle: ${cycles} cycles`);
