// The system sampler's worker thread (dist/chunks/systemWorker.js): systeminformation runs here, not on the
// extension host's event loop. Some of its readings spawn a shell synchronously (the CPU load on Linux runs
// `execSync('cat /proc/stat | grep cpu')`, memory on macOS `sysctl`), which stalled the host 10-25 ms every
// sample, and a process listing is milliseconds of parsing. One request at a time per method, by the
// sampler's chained timers; the answers carry only what the sampler reads.
import { parentPort } from 'node:worker_threads';
import type { SystemInfoRequest, SystemInfoReply } from './workerProtocol';

type SystemInformation = typeof import('systeminformation');
let si: Promise<SystemInformation> | undefined;
const load = () => (si ??= import('systeminformation').then((m) => (m as { default?: SystemInformation }).default ?? m));

async function answer(method: SystemInfoRequest['method']): Promise<SystemInfoReply['result']> {
  const s = await load();
  switch (method) {
    case 'currentLoad':
      return { currentLoad: (await s.currentLoad()).currentLoad };
    case 'mem': {
      const { total, available } = await s.mem();
      return { total, available };
    }
    case 'processes':
      return { list: (await s.processes()).list.map(({ pid, name }) => ({ pid, name })) };
  }
}

const port = parentPort;
if (!port) throw new Error('the system sampler worker runs only as a worker thread');
port.on('message', (m: SystemInfoRequest) => {
  answer(m.method).then(
    (result) => port.postMessage({ id: m.id, result } satisfies SystemInfoReply),
    (e: unknown) => port.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) } satisfies SystemInfoReply),
  );
});
