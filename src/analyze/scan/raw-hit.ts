/** A rule hit placed in the checkpoint: what the scanners of each source hand to scanCheckpoint. */
import type { RuleHit } from "./detector.js";
import type { Location } from "./findings.js";

export interface PlacedHit {
  hit: RuleHit;
  location: Location;
  /** For a stable order of locations: source kind, then position. */
  order: [number, number, bigint];
}
