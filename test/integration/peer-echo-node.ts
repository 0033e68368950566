/**
 * A peer transport in its own process (throughput and kill tests): node id from argv[2], listens
 * on 127.0.0.1 at the port in argv[3] (default 0 = any), prints `{"port":N}` on stdout, answers every request with its message, and
 * exits when its stdin closes (so it never outlives the test that started it).
 */
import { pino } from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { PeerTransport } from '../../src/server/peer/index.js';

const nodeId = process.argv[2] ?? 'echo';
const t = new PeerTransport({
  nodeId,
  host: '127.0.0.1',
  port: Number(process.argv[3] ?? 0),
  config: configSchema.parse({ peer: { port: 0 } }).peer,
  logger: pino({ level: 'silent' }),
  onMessage: () => {},
  onRequest: (_from, msg) => Promise.resolve(msg),
});
const { port } = await t.listen();
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void t.close(500).then(() => process.exit(0));
});
