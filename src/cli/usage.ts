/**
 * Every command's usage line, in the order `git-midx -h` lists them. Kept apart from the commands
 * themselves so that a bundle holding one command (scripts/bundle-cli.mjs) still prints them all.
 */
export const USAGES = {
  write:
    'write [--preferred-pack=<pack>] [--[no-]bitmap] [--stdin-packs] [--refs-snapshot=<file>] [--[no-]incremental] [--[no-]write-chain-file] [--base=<checksum>]',
  compact: 'compact [--[no-]incremental] <from> <to>',
  'rev-list': 'rev-list --count [--objects] [--all] [--use-bitmap-index] <revision>... [^<revision>...]',
  verify: 'verify',
  expire: 'expire [--dry-run]',
  repack: 'repack [--batch-size=<size>] [--dry-run]',
  show: 'show [--json]',
  lookup: 'lookup (--stdin | <oid>...)',
  'cat-file':
    'cat-file [--max-object-size=<n>] (-t | -s | -e | -p) <object> | <type> <object> | (--batch | --batch-check)[=<format>] [--batch-all-objects] [-z]',
} as const;

export type CommandName = keyof typeof USAGES;

/** The top-level usage text: every command, then the global options. */
export function usageText(): string {
  const lines = Object.values(USAGES).map(
    (u, i) => `${i === 0 ? 'usage: ' : '   or: '}git-midx [<options>] ${u}`,
  );
  return `${lines.join('\n')}\n\n    --version             print the git-midx version\n    --object-dir <directory>\n                          object directory containing set of packfile and pack-index pairs\n    --git-dir <path|url>  the repository: a directory, or the http(s) URL of one served as static files\n    --[no-]progress       force progress reporting\n\n`;
}
