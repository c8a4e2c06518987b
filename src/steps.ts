/** Work written as generators (yielding where an async caller may let its event loop turn). */

/** Runs `steps` to its end without pausing, and returns its result: the synchronous form. */
export function runSteps<T>(steps: Generator<unknown, T, undefined>): T {
  let r = steps.next();
  while (!r.done) r = steps.next();
  return r.value;
}
