/**
 * `ringkv admin join|decommission|remove ID [--host H] [--http-port P]`: asks a node's HTTP
 * admin API for a ring change and prints its progress, one line per update, until it is done.
 * Exit codes: 0 done; 1 refused, failed or unreachable (one line on stderr with the error code).
 */
import { request } from 'node:http';

export interface AdminOptions {
  action: 'join' | 'decommission' | 'remove';
  id: string;
  host: string;
  httpPort: number;
  weight?: number;
  timeoutMs: number;
  out(text: string): void;
  err(text: string): void;
}

interface Progress {
  result?: unknown;
  members?: unknown;
  epoch?: unknown;
  phase?: unknown;
  slotsToMove?: unknown;
  slotsMoved?: unknown;
  keysStreamed?: unknown;
  bytesStreamed?: unknown;
  message?: unknown;
  error?: { code?: unknown; message?: unknown };
}

function line(p: Progress): string {
  const n = (v: unknown): string => (typeof v === 'number' ? String(v) : '?');
  const msg = typeof p.message === 'string' && p.message !== '' ? `  ${p.message}` : '';
  return `${String(p.phase)}  slots ${n(p.slotsMoved)}/${n(p.slotsToMove)}  keys ${n(p.keysStreamed)}  bytes ${n(p.bytesStreamed)}${msg}\n`;
}

export function runAdmin(o: AdminOptions): Promise<number> {
  const body = JSON.stringify(o.weight === undefined ? { id: o.id } : { id: o.id, weight: o.weight });
  return new Promise((resolve) => {
    let last: Progress | undefined;
    let partial = '';
    const req = request({
      host: o.host, port: o.httpPort, method: 'POST', path: `/admin/${o.action}`,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: o.timeoutMs,
    }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        partial += chunk;
        let nl: number;
        while ((nl = partial.indexOf('\n')) >= 0) {
          const text = partial.slice(0, nl);
          partial = partial.slice(nl + 1);
          if (text.trim() === '') continue;
          try {
            last = JSON.parse(text) as Progress;
          } catch {
            continue;
          }
          if (last.error === undefined && last.result === undefined) o.out(line(last));
        }
      });
      res.on('end', () => {
        if (partial.trim() !== '') {
          try {
            last = JSON.parse(partial) as Progress;
          } catch {
            /* keep the previous line */
          }
        }
        if (last?.error !== undefined) {
          o.err(`ringkv admin ${o.action}: ${String(last.error.code)} ${String(last.error.message)}\n`);
          resolve(1);
        } else if (res.statusCode !== 200) {
          o.err(`ringkv admin ${o.action}: HTTP ${res.statusCode ?? '?'}\n`);
          resolve(1);
        } else if (last?.result === 'done') {
          const members = Array.isArray(last.members) ? last.members.join(', ') : '?';
          o.out(`${o.action} ${o.id}: done (ring epoch ${String(last.epoch)}: ${members})\n`);
          resolve(0);
        } else {
          o.err(`ringkv admin ${o.action}: ${String(last?.result ?? 'no result')}${typeof last?.message === 'string' && last.message !== '' ? `: ${last.message}` : ''}\n`);
          resolve(1);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)));
    req.on('error', (e) => {
      o.err(`ringkv admin ${o.action}: cannot reach ${o.host}:${o.httpPort}: ${e.message}\n`);
      resolve(1);
    });
    req.end(body);
  });
}
