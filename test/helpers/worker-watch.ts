/**
 * A fuzz property runs in a worker thread: a synchronous endless loop in a reader cannot be stopped
 * on the thread it runs on. The worker counts its runs in shared memory (`progress`: Int32 runs,
 * Int32 input length, then the current input as UTF-8 from byte 8); the main thread watches the
 * count and ends the worker when it stops moving for `hangMs` (a hang detector, not a time limit:
 * every run may take as long as it needs while runs keep coming).
 */
import type { Worker } from 'node:worker_threads';

export function watchWorker<R>(
  worker: Worker,
  progress: SharedArrayBuffer,
  hangMs: number,
  what: string,
): Promise<R> {
  const counter = new Int32Array(progress, 0, 2);
  return new Promise<R>((resolve, reject) => {
    let settled = false;
    let last = -1;
    let lastChange = Date.now();
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      void worker.terminate();
      fn();
    };
    const watchdog = setInterval(() => {
      const n = Atomics.load(counter, 0);
      if (n !== last) {
        last = n;
        lastChange = Date.now();
        return;
      }
      if (Date.now() - lastChange < hangMs) return;
      const input = Buffer.from(new Uint8Array(progress, 8, Atomics.load(counter, 1))).toString('utf8');
      finish(() =>
        reject(new Error(`${what}: no progress for ${hangMs} ms after ${n} runs (hang); input: ${input}`)),
      );
    }, 200);
    worker.on('message', (r: R) => finish(() => resolve(r)));
    worker.on('error', (e) => finish(() => reject(e)));
    worker.on('exit', (code) => finish(() => reject(new Error(`${what}: worker exited with ${code}`))));
  });
}
