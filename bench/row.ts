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
  /**
   * A whole run of our CLI against git's: judged on our time minus Node's own start-up (`node -e 0`,
   * measured in the same bench) against git's time, as well as shown raw. `limit` is the ratio to
   * meet; `alsoNeeds` is false when another condition of the row failed.
   */
  startup?: {
    limit?: number;
    alsoNeeds?: boolean;
    /** Node's start-up measured beside this row (else the bench's own measure is used). */
    nodeMs?: number;
  };
  /** For `startup` rows: (ours − node start-up) / git, filled in when the table is printed. */
  netRatio?: number;
}
