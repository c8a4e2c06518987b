/**
 * Files to remove if the process is interrupted: lock files and temporary pack files, from the
 * moment they are created until they are committed, renamed or removed. The library records them
 * here; the CLI, which runs a writing command on a worker thread, mirrors the list into memory shared
 * with the main thread, so that a signal handler there can stop the worker in the middle of
 * synchronous work and still remove what it left (see src/cli/main.ts).
 */

/** Where the list is mirrored; installed by the CLI's worker thread. */
export interface CleanupMirror {
  add(file: string): void;
  remove(file: string): void;
}

const pending = new Set<string>();
let mirror: CleanupMirror | undefined;

/** Records `file` (an absolute path) as ours to remove if we are interrupted. */
export function registerCleanup(file: string): void {
  pending.add(file);
  mirror?.add(file);
}

/** `file` was committed, renamed or removed: an interruption no longer concerns it. */
export function unregisterCleanup(file: string): void {
  if (pending.delete(file)) mirror?.remove(file);
}

/** The files currently registered. */
export function pendingCleanup(): string[] {
  return [...pending];
}

export function setCleanupMirror(m: CleanupMirror | undefined): void {
  mirror = m;
  if (m) for (const f of pending) m.add(f);
}

// ---------------------------------------------------------------------------------------------
// The shared-memory list: SLOTS slots of SLOT_BYTES each; slot i holds a UTF-8 path whose length
// is in lengths[i] (0: empty). Written by one thread (the worker), read by the other only after the
// writer has stopped, so plain stores with an Atomics.store on the length suffice.

const SLOTS = 64;
const SLOT_BYTES = 4096;

export function sharedCleanupBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(SLOTS * 4 + SLOTS * SLOT_BYTES);
}

/** The worker's side: records into the shared buffer (paths too long or too many are kept local only). */
export function sharedCleanupMirror(buf: SharedArrayBuffer): CleanupMirror {
  const lengths = new Int32Array(buf, 0, SLOTS);
  const bytes = new Uint8Array(buf, SLOTS * 4);
  const enc = new TextEncoder();
  const slotOf = new Map<string, number>();
  return {
    add(file) {
      if (slotOf.has(file)) return;
      const b = enc.encode(file);
      if (b.length === 0 || b.length > SLOT_BYTES) return;
      for (let i = 0; i < SLOTS; i++) {
        if (Atomics.load(lengths, i) !== 0) continue;
        bytes.set(b, i * SLOT_BYTES);
        Atomics.store(lengths, i, b.length);
        slotOf.set(file, i);
        return;
      }
    },
    remove(file) {
      const i = slotOf.get(file);
      if (i === undefined) return;
      slotOf.delete(file);
      Atomics.store(lengths, i, 0);
    },
  };
}

/** The main thread's side: the paths in the shared buffer. */
export function readSharedCleanup(buf: SharedArrayBuffer): string[] {
  const lengths = new Int32Array(buf, 0, SLOTS);
  const bytes = new Uint8Array(buf, SLOTS * 4);
  const dec = new TextDecoder();
  const out: string[] = [];
  for (let i = 0; i < SLOTS; i++) {
    const n = Atomics.load(lengths, i);
    if (n > 0 && n <= SLOT_BYTES) out.push(dec.decode(bytes.slice(i * SLOT_BYTES, i * SLOT_BYTES + n)));
  }
  return out;
}
