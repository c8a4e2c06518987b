/** Progress is a callback in the library; the CLI renders it in Git's format on stderr. */
export interface ProgressEvent {
  /** Git's title for the phase, e.g. `Adding packfiles to multi-pack-index`. */
  readonly title: string;
  readonly done: number;
  /** Absent for counters without a known total. */
  readonly total?: number;
  /** Set on the last event of a phase. */
  readonly end?: boolean;
}

export type ProgressCallback = (event: ProgressEvent) => void;

/** A diagnostic Git would print as `warning: …` or `error: …` while carrying on. */
export interface Diagnostic {
  readonly level: 'warning' | 'error';
  readonly message: string;
}

export type DiagnosticCallback = (d: Diagnostic) => void;
