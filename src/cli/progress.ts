/**
 * A progress bar on stderr for long operations, shown only when stderr is a terminal (so logs and
 * pipes stay clean) and NO_COLOR-safe (the bar uses no colour).
 */
import cliProgress from "cli-progress";

export interface Progress {
  update(done: number): void;
  stop(): void;
}

const SILENT: Progress = { update: () => undefined, stop: () => undefined };

export function progressBar(label: string, total: number): Progress {
  if (!process.stderr.isTTY || total <= 0) return SILENT;
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: `${label} [{bar}] {percentage}% | {value}/{total} MiB`, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.legacy,
  );
  const mib = (n: number) => Math.round(n / (1 << 20));
  bar.start(mib(total), 0);
  return {
    update: (done) => bar.update(mib(done)),
    stop: () => bar.stop(),
  };
}
