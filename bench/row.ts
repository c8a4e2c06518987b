/** One line of the bench's table (bench/run.ts prints them; bench/remote.ts and bench/libgit2.ts add some). */
export interface Row {
  name: string;
  unit: string;
  git?: number;
  ours: number;
  /** ours / git (for times: lower is better). */
  ratio?: number;
  target: string;
  /** Undefined for informational rows. */
  pass: boolean | undefined;
  runs?: { git?: number[]; ours: number[] };
  /** Child CPU time (user + system), medians and runs: a cross-check when the machine is busy. */
  cpu?: { git?: number; ours: number; ratio?: number; runs: { git?: number[]; ours: number[] } };
  note?: string;
}
