/**
 * One run of a job per key at a time: callers that arrive while it runs share its result (one pull
 * of an image, one download of a blob, one unpack of a layer, however many pods ask at once).
 * A caller's abort signal ends its own wait; the shared job is aborted only when every caller still
 * waiting for it has aborted, so one impatient caller cannot fail the others' pull.
 */
interface Flight<T> {
  promise: Promise<T>;
  waiters: number;
  controller: AbortController;
}

export class SingleFlight<T> {
  private readonly running = new Map<string, Flight<T>>();

  run(key: string, job: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    let flight = this.running.get(key);
    if (!flight) {
      const controller = new AbortController();
      const started: Flight<T> = { waiters: 0, controller, promise: Promise.resolve().then(() => job(controller.signal)) };
      started.promise = started.promise.finally(() => {
        if (this.running.get(key) === started) this.running.delete(key);
      });
      // Every waiter sees the outcome; this only keeps a rejection nobody waits for any more quiet.
      started.promise.catch(() => {});
      this.running.set(key, started);
      flight = started;
    }
    const f = flight;
    f.waiters++;
    if (!signal) return f.promise;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        reject(signal.reason);
        if (--f.waiters === 0) f.controller.abort(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      f.promise.then(
        (value) => {
          signal.removeEventListener("abort", onAbort);
          resolve(value);
        },
        (err: unknown) => {
          signal.removeEventListener("abort", onAbort);
          reject(err);
        },
      );
    });
  }
}
