import { expect } from "vitest";

/**
 * A restored counter's numbers: first the checkpointed log (copied by the restore), then its own
 * count going on by one from where the checkpoint stopped.
 */
export function expectCountContinued(restored: number[], archived: number[]): void {
  expect(archived.length).toBeGreaterThan(3);
  expect(restored.slice(0, archived.length)).toEqual(archived);
  const own = restored.slice(archived.length);
  expect(own.length).toBeGreaterThan(2);
  expect(own[0]).toBeGreaterThan(1);
  expect(own[0]).toBeLessThanOrEqual(archived.at(-1)! + 1);
  for (let i = 1; i < own.length; i++) expect(own[i]).toBe(own[i - 1]! + 1);
}
