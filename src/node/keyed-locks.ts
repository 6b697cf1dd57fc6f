/** One operation at a time per key (a pod, a container): later callers wait their turn. */
import pLimit, { type LimitFunction } from "p-limit";

export function keyedLocks(): (key: string) => LimitFunction {
  const locks = new Map<string, LimitFunction>();
  return (key) => {
    let l = locks.get(key);
    if (!l) locks.set(key, (l = pLimit(1)));
    return l;
  };
}
