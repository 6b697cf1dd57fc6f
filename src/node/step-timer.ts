/** Times named steps of one operation for its log line: each step from the end of the one before. */

export interface StepTimer {
  mark(step: string): void;
  /** Milliseconds per step, to 0.1 ms. */
  done(): Record<string, number>;
}

export function stepTimer(): StepTimer {
  const steps: Record<string, number> = {};
  let last = performance.now();
  return {
    mark(step) {
      const now = performance.now();
      steps[step] = Math.round((now - last) * 10) / 10;
      last = now;
    },
    done: () => steps,
  };
}
