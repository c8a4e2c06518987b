/**
 * Files to remove if the process is interrupted: lock files and temporary pack files, from the
 * moment they are created until they are committed, renamed or removed. The library records them
 * here; the CLI, which runs a writing command on a worker thread, mirrors the list into memory shared
 * with the main thread, so that a signal handler there can stop the worker in the middle of
 * synchronous work and still remove what it left (see src/cli/main.ts).
 *
 * A file is listed in two steps, claimed before its exclusive create and confirmed after it
 * (`createListed`). A worker stopped between the two would leave a claimed file that may or may
 * not exist, and if it exists, may be another process's (a lock met as EEXIST): nothing tells
 * which once the worker is gone, for Node closes a stopped worker's descriptors. So the two steps
 * form a critical section that the main thread waits out before it stops the worker
 * (`stopCreates`); after that, no claim is left half-done and every listed file is ours.
 */

/** Where the list is mirrored; installed by the CLI's worker thread. */
export interface CleanupMirror {
  /** `claimed`: about to be created (see claimCleanup); else ours. */
  add(file: string, claimed: boolean): void;
  remove(file: string): void;
  /** Entering a claim-create-confirm section; blocks for good once the other side has stopped creates. */
  enter?(): void;
  /** Leaving it. */
  leave?(): void;
}

/** The files registered: true when only claimed (not yet known to be created by us). */
const pending = new Map<string, boolean>();
let mirror: CleanupMirror | undefined;

/**
 * Records `file` (an absolute path) as about to be created exclusively: done before the create, so
 * that a thread stopped right after the create still has it listed (`createListed` does the three
 * steps). Whoever cleans up never removes a file that is only claimed (it may be another process's
 * file whose name was taken); `registerCleanup` after the create makes it plainly ours,
 * `unregisterCleanup` after a failed create forgets it. Returns false (nothing to forget then) when
 * `file` was listed already.
 */
export function claimCleanup(file: string): boolean {
  // Already listed (this process holds it): the claim adds nothing, and a failed create must not
  // unlist it.
  if (pending.has(file)) return false;
  pending.set(file, true);
  mirror?.add(file, true);
  return true;
}

/**
 * Creates `file` with `create` (an exclusive create: it throws when the file exists) and lists it
 * as ours, claimed before and confirmed after, in one section that `stopCreates` waits out.
 */
export function createListed<T>(file: string, create: () => T): T {
  mirror?.enter?.();
  try {
    const claimed = claimCleanup(file);
    let made: T;
    try {
      made = create();
    } catch (e) {
      if (claimed) unregisterCleanup(file);
      throw e;
    }
    registerCleanup(file);
    return made;
  } finally {
    mirror?.leave?.();
  }
}

/** Records `file` (an absolute path) as ours to remove if we are interrupted. */
export function registerCleanup(file: string): void {
  pending.set(file, false);
  mirror?.add(file, false);
}

/** `file` was committed, renamed or removed: an interruption no longer concerns it. */
export function unregisterCleanup(file: string): void {
  if (pending.delete(file)) mirror?.remove(file);
}

/** The files currently registered as ours (claims are transient within synchronous code). */
export function pendingCleanup(): string[] {
  return [...pending].filter(([, claimed]) => !claimed).map(([file]) => file);
}

export function setCleanupMirror(m: CleanupMirror | undefined): void {
  mirror = m;
  if (m) for (const [f, claimed] of pending) m.add(f, claimed);
}

// ---------------------------------------------------------------------------------------------
// The shared-memory list: SLOTS slots of SLOT_BYTES each; slot i holds a UTF-8 path whose length
// is in lengths[i] (0: empty; negative: claimed). Written by one thread (the worker), read by the
// other only after the writer has stopped, so plain stores with an Atomics.store on the length
// suffice. After the lengths, one more Int32: the state of the create section (FREE, INSIDE: the
// worker is creating a file, STOPPED: the main thread allows no more creates).

const SLOTS = 64;
const SLOT_BYTES = 4096;
const STATE = SLOTS;
const FREE = 0;
const INSIDE = 1;
const STOPPED = 2;

export function sharedCleanupBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer((SLOTS + 1) * 4 + SLOTS * SLOT_BYTES);
}

/**
 * The main thread's side, before it stops the worker: waits until the worker is outside any
 * create section (at most `timeoutMs`), and from then on lets it enter none (it blocks there until
 * stopped). Returns false if the worker stayed inside (a create hung in the file system): its
 * claimed file is then left alone.
 */
export function stopCreates(buf: SharedArrayBuffer, timeoutMs: number): boolean {
  const state = new Int32Array(buf, 0, SLOTS + 1);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const was = Atomics.compareExchange(state, STATE, FREE, STOPPED);
    if (was !== INSIDE) return true;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    Atomics.wait(state, STATE, INSIDE, Math.min(left, 10));
  }
}

/** The worker's side: records into the shared buffer (paths too long or too many are kept local only). */
export function sharedCleanupMirror(buf: SharedArrayBuffer): CleanupMirror {
  const lengths = new Int32Array(buf, 0, SLOTS + 1);
  const bytes = new Uint8Array(buf, (SLOTS + 1) * 4);
  const enc = new TextEncoder();
  const slotOf = new Map<string, number>();
  let depth = 0;
  return {
    add(file, claimed) {
      const b = enc.encode(file);
      const known = slotOf.get(file);
      if (known !== undefined) {
        Atomics.store(lengths, known, claimed ? -b.length : b.length);
        return;
      }
      if (b.length === 0 || b.length > SLOT_BYTES) return;
      for (let i = 0; i < SLOTS; i++) {
        if (Atomics.load(lengths, i) !== 0) continue;
        bytes.set(b, i * SLOT_BYTES);
        Atomics.store(lengths, i, claimed ? -b.length : b.length);
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
    enter() {
      // (A section inside another is already covered by it.)
      if (depth++ > 0) return;
      // Blocks for good once creates are stopped: the main thread is about to stop this worker.
      while (Atomics.compareExchange(lengths, STATE, FREE, INSIDE) !== FREE) {
        Atomics.wait(lengths, STATE, STOPPED);
      }
    },
    leave() {
      if (--depth > 0) return;
      Atomics.store(lengths, STATE, FREE);
      Atomics.notify(lengths, STATE);
    },
  };
}

/** The main thread's side: the paths in the shared buffer, and whether each is only claimed. */
export function readSharedCleanup(buf: SharedArrayBuffer): { file: string; claimed: boolean }[] {
  const lengths = new Int32Array(buf, 0, SLOTS);
  const bytes = new Uint8Array(buf, (SLOTS + 1) * 4);
  const dec = new TextDecoder();
  const out: { file: string; claimed: boolean }[] = [];
  for (let i = 0; i < SLOTS; i++) {
    const v = Atomics.load(lengths, i);
    const n = Math.abs(v);
    if (n > 0 && n <= SLOT_BYTES) {
      out.push({ file: dec.decode(bytes.slice(i * SLOT_BYTES, i * SLOT_BYTES + n)), claimed: v < 0 });
    }
  }
  return out;
}

/**
 * Of what a stopped worker left listed, the files that are ours to remove: the confirmed ones. A
 * claimed one is left only when `stopCreates` timed out: whether the create happened, and whose
 * file it is, is then unknown (the stopped worker's descriptors are closed), so it stays.
 */
export function ownLeftovers(entries: { file: string; claimed: boolean }[]): string[] {
  return entries.filter((e) => !e.claimed).map((e) => e.file);
}
