/** Two lists compared item by item, paired by a key: what only B has, what only A has, what differs. */
import type { FieldChange, ListDiff } from "./diff-types.js";

export function diffByKey<T, C>(a: readonly T[], b: readonly T[], key: (t: T) => string, compare: (x: T, y: T) => C | undefined): ListDiff<T, C> {
  const inA = new Map(a.map((t) => [key(t), t]));
  const inB = new Set(b.map(key));
  const out: ListDiff<T, C> = { added: [], removed: a.filter((t) => !inB.has(key(t))), changed: [] };
  for (const t of b) {
    const before = inA.get(key(t));
    if (before === undefined) out.added.push(t);
    else {
      const change = compare(before, t);
      if (change !== undefined) out.changed.push(change);
    }
  }
  return out;
}

/** The fields whose text differs between two records (a field one side lacks reads as ""). */
export function fieldChanges(a: Readonly<Record<string, string | number | boolean | undefined>>, b: Readonly<Record<string, string | number | boolean | undefined>>): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const field of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = String(a[field] ?? "");
    const y = String(b[field] ?? "");
    if (x !== y) changes.push({ field, a: x, b: y });
  }
  return changes;
}
