/**
 * `git multi-pack-index verify` on disk (spec/midx-format.md §9, §11): loads
 * `<objectDir>/pack/multi-pack-index` whatever `core.multiPackIndex` says, reports load failures as
 * Git does (error-level: the error, then `multi-pack-index file exists, but failed to parse`, exit 1;
 * die-level: `fatal: …`, exit 128), then runs the portable checks with the real pack files.
 */
import { readU32 } from '../bytes.js';
import { GitMidxError, isGitMidxError } from '../errors.js';
import type { HashAlgorithm } from '../hash.js';
import { bufferReader, type RandomAccessReader } from '../io.js';
import { chainSourceIn, loadChain, MidxChain } from '../midx/chain.js';
import { isFatalMidxError, MultiPackIndex } from '../midx/reader.js';
import { type PackIndexLoad, verifyChain, verifyMidx } from '../midx/verify.js';
import { PackIndex } from '../pack/idx.js';
import { type Inflater, PackFile } from '../pack/pack.js';
import type { ProgressCallback } from '../progress.js';
import { type StoreFiles, storeFiles } from '../storage/resident.js';
import { joinPath } from '../storage/storage.js';
import { nodeHash } from './hash.js';
import { MIDX_NAME } from './midx.js';
import { repositoryForObjectDir } from './repo.js';
import { nodeStorage } from './storage.js';

export interface VerifyMidxFileOptions {
  /** The object directory (absolute, or relative to the process's working directory). */
  objectDir: string;
  /**
   * The object directory as Git names it in messages (e.g. `.git/objects` from anywhere in the work
   * tree, `./objects` in a bare repository); default `objectDir`.
   */
  displayDir?: string;
  hash?: HashAlgorithm;
  /** Where the files are read (default: Node files); e.g. a repository served over HTTP. */
  files?: StoreFiles;
  onProgress?: ProgressCallback;
  /** Called with each stderr line as soon as it is known (the lines are returned as well). */
  onLine?: (line: string) => void;
}

export interface VerifyMidxFileResult {
  /** 0 clean or no MIDX, 1 findings or an unparsable file, 128 Git would die. */
  readonly status: 0 | 1 | 128;
  /** Git's stderr lines, prefixes (`error: `, `fatal: `) included where Git prints them. */
  readonly lines: string[];
}

const PARSE_FAILED = 'multi-pack-index file exists, but failed to parse';

/** `is_pack_valid()` reads only the header and trailer: nothing is inflated. */
const noInflate: Inflater = {
  inflate() {
    throw new Error('verify does not inflate objects');
  },
};

export function verifyMidxFile(options: VerifyMidxFileOptions): VerifyMidxFileResult {
  const hash = options.hash ?? repositoryForObjectDir(options.objectDir).hash;
  const lines: string[] = [];
  const emit = (line: string) => {
    lines.push(line);
    options.onLine?.(line);
  };
  const files = options.files ?? storeFiles(nodeStorage());
  const file = joinPath(joinPath(options.objectDir, 'pack'), MIDX_NAME);
  const packDir = joinPath(options.objectDir, 'pack');
  // Git joins with `/` and does not normalize (`./objects/pack/…`).
  const shownPackDir = `${options.displayDir ?? options.objectDir}/pack`;
  const shownFile = `${shownPackDir}/${MIDX_NAME}`;

  let midx: MultiPackIndex;
  try {
    const reader = files.open(file);
    if (reader === undefined) {
      return verifyChainIn(files, packDir, shownPackDir, hash, options, emit, lines);
    }
    midx = MultiPackIndex.open(heldWhole(reader, shownFile), { hash, lenient: true, file: shownFile });
  } catch (e) {
    if (isGitMidxError(e)) {
      if (isFatalMidxError(e.code)) {
        emit(`fatal: ${String(e.data.git ?? e.message)}`);
        return { status: 128, lines };
      }
      emit(`error: ${loadErrorText(e, files, file, hash)}`);
      emit(`error: ${PARSE_FAILED}`);
      return { status: 1, lines };
    }
    // Git loads the file silently or not at all; a file it cannot map still "exists".
    if (files.stat(file) !== undefined) {
      emit(`error: ${PARSE_FAILED}`);
      return { status: 1, lines };
    }
    return { status: 0, lines };
  }

  try {
    const r = verifyMidx(midx, {
      hashFn: nodeHash,
      onProgress: options.onProgress,
      onLine: emit,
      ...packAccess(files, packDir, shownPackDir, hash),
    });
    return outcome(r, emit, lines);
  } finally {
    midx.close();
  }
}

/** A MIDX up to this size is read into memory whole: every byte of it is checked anyway. */
const WHOLE_MIDX_MAX = 256 * 1024 * 1024;

/**
 * `reader`'s file in memory, in one read, when it is not larger than WHOLE_MIDX_MAX (the checks
 * then read bytes directly instead of through pages); else `reader` itself. A failed read is the
 * IO_ERROR the MIDX reader would have given.
 */
function heldWhole(reader: RandomAccessReader, shownFile: string): RandomAccessReader {
  if (reader.size > WHOLE_MIDX_MAX) return reader;
  try {
    const bytes = new Uint8Array(reader.size);
    reader.readInto(bytes, 0, reader.size, 0);
    return bufferReader(bytes);
  } catch (e) {
    if (isGitMidxError(e)) throw e;
    throw new GitMidxError('IO_ERROR', `${shownFile}: ${(e as Error).message}`, {
      file: shownFile,
      cause: e,
    });
  } finally {
    reader.close();
  }
}

/** How a verification reaches the packs named in PNAM. */
function packAccess(files: StoreFiles, packDir: string, shownPackDir: string, hash: HashAlgorithm) {
  return {
    packExists: (name: string) => {
      const st = files.stat(joinPath(packDir, packFileName(name)));
      return st !== undefined && st.regular !== false;
    },
    openPackIndex: (name: string) => openPack(files, packDir, shownPackDir, name, hash),
  };
}

/** Git's exit status for a verification: 128 after a fatal error, 1 with findings, else 0. */
function outcome(
  r: { fatal?: string; problems: number },
  emit: (line: string) => void,
  lines: string[],
): VerifyMidxFileResult {
  if (r.fatal !== undefined) {
    emit(`fatal: ${r.fatal}`);
    return { status: 128, lines };
  }
  return { status: r.problems > 0 ? 1 : 0, lines };
}

/** PNAM holds `.idx` names; Git registers the pack by replacing `.idx` with `.pack`. */
function packFileName(name: string): string {
  return name.endsWith('.idx') ? `${name.slice(0, -4)}.pack` : `${name}.pack`;
}

/** Git's `is_pack_valid()`: the index opens, and the pack's header and trailer agree with it. */
/** Pack indexes up to this size are read into memory whole for `verify`'s offset checks. */
const WHOLE_INDEX_MAX = 256 * 1024 * 1024;

function openPack(
  files: StoreFiles,
  packDir: string,
  shownDir: string,
  name: string,
  hash: HashAlgorithm,
): PackIndexLoad {
  const idxPath = joinPath(packDir, name);
  const packPath = joinPath(packDir, packFileName(name));
  const shownPack = `${shownDir}/${packFileName(name)}`;
  let idx: PackIndex;
  try {
    const r = files.open(idxPath);
    if (r === undefined) throw new Error('missing');
    // Held whole (it is read whole anyway: every object of the pack is looked up): the lookups
    // then read the bytes directly instead of through pages.
    let source: RandomAccessReader = r;
    if (r.size <= WHOLE_INDEX_MAX) {
      const bytes = new Uint8Array(r.size);
      try {
        r.readInto(bytes, 0, r.size, 0);
      } finally {
        r.close();
      }
      source = bufferReader(bytes);
    }
    idx = PackIndex.open(source, { hash, file: `${shownDir}/${name}` });
  } catch (e) {
    const errors: string[] = [];
    if (isGitMidxError(e)) errors.push(String(e.data.git ?? e.message));
    errors.push(`packfile ${shownPack} index unavailable`);
    return { errors };
  }
  let reader: RandomAccessReader | undefined;
  try {
    reader = files.open(packPath);
    if (reader === undefined) return { errors: [] };
    // Only the 12-byte header and the trailer are read: small pages, not 16 KiB ones to fill.
    new PackFile(reader, idx, { inflate: noInflate, file: shownPack, pageSize: 256 }).validate();
    return idx;
  } catch (e) {
    idx.close();
    if (isGitMidxError(e)) return { errors: [String(e.data.git ?? e.message)] };
    return { errors: [] };
  } finally {
    reader?.close();
  }
}

/**
 * The message of an error-level load failure. A table of contents that runs past the end of the
 * file is rejected by our reader before reading it; Git reads on into zeros (the rest of the mapped
 * page) and reports the first row that then fails its checks, which we reproduce here.
 */
function loadErrorText(e: GitMidxError, files: StoreFiles, file: string, hash: HashAlgorithm): string {
  if (e.code === 'CHUNK_TOC_TRUNCATED') {
    const msg = gitTocMessage(files, file, hash);
    if (msg !== undefined) return msg;
  }
  return String(e.data.git ?? e.message);
}

function gitTocMessage(files: StoreFiles, file: string, hash: HashAlgorithm): string | undefined {
  let bytes: Uint8Array | undefined;
  try {
    bytes = files.readFile(file, 1 << 30);
  } catch {
    return undefined;
  }
  if (bytes === undefined) return undefined;
  const count = bytes[6];
  const rows = new Uint8Array(12 * (count + 1));
  rows.set(bytes.subarray(12, Math.min(bytes.length, 12 + rows.length)));
  const limit = bytes.length - hash.size;
  const u64 = (o: number) => readU32(rows, o) * 0x100000000 + readU32(rows, o + 4);
  const hex64 = (o: number) => {
    const hi = readU32(rows, o);
    const lo = readU32(rows, o + 4);
    return hi === 0 ? lo.toString(16) : hi.toString(16) + lo.toString(16).padStart(8, '0');
  };
  const seen = new Set<number>();
  for (let i = 0; i < count; i++) {
    const r = i * 12;
    const id = readU32(rows, r);
    if (id === 0) return 'terminating chunk id appears earlier than expected';
    const start = u64(r + 4);
    const end = u64(r + 16);
    if (end < start || end > limit) return `improper chunk offset(s) ${hex64(r + 4)} and ${hex64(r + 16)}`;
    if (seen.has(id)) return `duplicate chunk ID ${id.toString(16)} found`;
    seen.add(id);
  }
  const last = readU32(rows, count * 12);
  if (last !== 0) return `final chunk has non-zero id ${last.toString(16)}`;
  return undefined;
}

/** `verify` when there is no flat MIDX: the incremental chain, if there is one. */
function verifyChainIn(
  files: StoreFiles,
  packDir: string,
  shownPackDir: string,
  hash: HashAlgorithm,
  options: VerifyMidxFileOptions,
  emit: (line: string) => void,
  lines: string[],
): VerifyMidxFileResult {
  const loaded = loadChain(chainSourceIn(files, packDir, shownPackDir), hash, { lenient: true });
  if (loaded === undefined) return { status: 0, lines };
  for (const w of loaded.warnings) emit(`warning: ${w}`);
  if (loaded.layers.length === 0) return { status: 0, lines };
  const chain = new MidxChain(loaded.layers);
  try {
    const r = verifyChain(chain, {
      hashFn: nodeHash,
      onProgress: options.onProgress,
      onLine: emit,
      ...packAccess(files, packDir, shownPackDir, hash),
    });
    return outcome(r, emit, lines);
  } finally {
    chain.close();
  }
}
