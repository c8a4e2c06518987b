/**
 * Git-style progress meters on stderr: `Title: 42% (420/1000)\r` … `Title: 100% (1000/1000), done.`
 * and `Title: 3\r` … `Title: 3, done.` for counters without a total. Shown only when asked for
 * (`--progress`) or when stderr is a terminal; delayed meters appear after GIT_PROGRESS_DELAY
 * seconds (default 2), as in Git.
 */
import type { ProgressCallback, ProgressEvent } from '../progress.js';

export interface ProgressRendererOptions {
  enabled: boolean;
  write?: (s: string) => void;
  /** Titles whose meter appears only after the delay. */
  delayed?: ReadonlySet<string>;
  delaySeconds?: number;
  now?: () => number;
}

export function progressRenderer(options: ProgressRendererOptions): ProgressCallback | undefined {
  if (!options.enabled) return undefined;
  const write = options.write ?? ((s: string) => process.stderr.write(s));
  const now = options.now ?? (() => Date.now());
  const envDelay = Number(process.env.GIT_PROGRESS_DELAY);
  const delayMs = 1000 * (options.delaySeconds ?? (Number.isFinite(envDelay) ? envDelay : 2));
  let title = '';
  let started = 0;
  let shown = false;
  let lastText = '';
  let lastWrite = 0;

  const format = (e: ProgressEvent): string => {
    if (e.total === undefined) return `${e.title}: ${e.done}`;
    const pct = e.total === 0 ? 100 : Math.floor((e.done * 100) / e.total);
    return `${e.title}: ${String(pct).padStart(3)}% (${e.done}/${e.total})`;
  };

  return (e) => {
    const t = now();
    if (e.title !== title) {
      title = e.title;
      started = t;
      shown = false;
      lastText = '';
    }
    if (!shown) {
      const delayed = options.delayed?.has(e.title) ?? false;
      if (delayed && t - started < delayMs && !e.end) return;
      if (delayed && e.end && t - started < delayMs) return;
      shown = true;
    }
    const text = format(e);
    if (e.end) {
      write(`${text}, done.\n`);
      title = '';
      return;
    }
    // Throttle redraws, but always show a change of percentage.
    if (text === lastText) return;
    if (t - lastWrite < 100 && e.total === undefined) return;
    lastText = text;
    lastWrite = t;
    write(`${text}\r`);
  };
}
