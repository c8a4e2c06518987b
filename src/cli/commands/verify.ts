import * as fs from 'node:fs';
import * as path from 'node:path';
import { VERIFY_TITLES } from '../../midx/verify.js';
import { discoverRepository } from '../../node/repo.js';
import { verifyMidxFile } from '../../node/verify.js';
import { type CliIO, makeContext } from '../context.js';
import type { Command } from '../dispatch.js';
import { parseCommand } from '../options.js';
import { USAGES } from '../usage.js';

const USAGE = USAGES['verify'];

/** `git multi-pack-index verify`: Git's messages on stderr, exit 0 (clean), 1 (findings) or 128. */
export const verifyCommand: Command = {
  name: 'verify',
  usage: USAGE,
  run(io, global, args) {
    const p = parseCommand(io, args, {}, USAGE, global);
    // Only the first meter is delayed in Git; the others are "sparse" meters shown at once.
    const ctx = makeContext(io, p.global, new Set([VERIFY_TITLES.packs]));
    if (ctx.remote !== undefined) {
      return verifyMidxFile({
        objectDir: ctx.objectDir,
        displayDir: `${ctx.remote.url}${ctx.objectDir}`,
        hash: ctx.hash,
        files: ctx.remote.files,
        onProgress: ctx.progress,
        onLine: (line) => io.stderr(`${line}\n`),
      }).status;
    }
    const objectDir = path.resolve(io.cwd, ctx.objectDir);
    const r = verifyMidxFile({
      objectDir,
      displayDir: shownObjectDir(io, p.global.objectDir, objectDir),
      hash: ctx.hash,
      onProgress: ctx.progress,
      onLine: (line) => io.stderr(`${line}\n`),
    });
    return r.status;
  },
};

/**
 * The object directory as git 2.39 names it in verify's messages (observed): `--object-dir` as its
 * real path; otherwise `.git/objects` from anywhere in a work tree (Git moves to its top),
 * `./objects` at the top of a bare repository, `$GIT_OBJECT_DIRECTORY` as given, else absolute.
 */
function shownObjectDir(io: CliIO, given: string | undefined, objectDir: string): string {
  if (given !== undefined) {
    try {
      return fs.realpathSync(objectDir);
    } catch {
      return objectDir;
    }
  }
  const env = io.env.GIT_OBJECT_DIRECTORY;
  if (env !== undefined && env !== '') return env;
  try {
    const repo = discoverRepository({ cwd: io.cwd, env: io.env });
    if (io.env.GIT_DIR !== undefined) return objectDir;
    const cwd = fs.realpathSync(io.cwd);
    const gitDir = fs.realpathSync(repo.gitDir);
    const objects = fs.realpathSync(objectDir);
    if (repo.bare)
      return cwd === gitDir && objects === path.join(gitDir, 'objects') ? './objects' : objectDir;
    const top = path.dirname(gitDir);
    const inside = cwd === top || (cwd.startsWith(`${top}/`) && !`${cwd}/`.startsWith(`${gitDir}/`));
    if (path.basename(gitDir) === '.git' && inside && objects === path.join(gitDir, 'objects')) {
      return '.git/objects';
    }
  } catch {
    // keep the absolute path
  }
  return objectDir;
}
