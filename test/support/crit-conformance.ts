/**
 * Compares ckpt's codec with the real crit on every image of a dump directory: decode and
 * decode --pretty text, encode of crit's JSON back to the original bytes, and the x views. The
 * deliberate differences (README, "Differences from crit") are applied to crit's side explicitly, so
 * every other byte must match.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { listImageFiles, ImageDir } from "../../src/criu-images/image-dir.js";
import { decodeImage, encodeImage } from "../../src/criu-images/image-file.js";
import { stringifyPython } from "../../src/criu-images/json-text.js";
import { FileNames } from "../../src/criu-images/explore/file-names.js";
import { processFds, renderFds } from "../../src/criu-images/explore/fds.js";
import { processMems, renderMems } from "../../src/criu-images/explore/mems.js";
import { psTree, renderPs } from "../../src/criu-images/explore/ps.js";
import { processRss, renderRss } from "../../src/criu-images/explore/rss.js";
import { runCrit, type CritJob } from "./crit.js";

/** crit labels task state 3 "Zombie", 6 "Stopped" and leaves 2 numeric; ckpt uses CRIU's names. */
const CRIT_TASK_STATE_FIX: Record<string, string> = { '"task_state": 2': '"task_state": "Dead"', '"task_state": "Zombie"': '"task_state": "Stopped"', '"task_state": "Stopped"': '"task_state": "Zombie"' };

export function expectedFromCrit(critJson: string, pretty: boolean): string {
  let text = critJson;
  if (pretty) text = text.replace(/"task_state": (2|"Zombie"|"Stopped")/g, (m) => CRIT_TASK_STATE_FIX[m]!);
  // crit reads a payload after every SysV shm entry even when the segment is in a pagemap.
  if (text.includes('"magic": "IPCNS_SHM"')) text = text.replace(/("in_pagemaps": true),( |\n +)"extra": ""/g, "$1");
  return text;
}

export interface ConformanceCounts {
  images: number;
  decodes: number;
  encodes: number;
  views: number;
}

export function checkDirAgainstCrit(dir: string): ConformanceCounts {
  const { images } = listImageFiles(dir);
  const jobs: CritJob[] = [];
  for (const name of images) {
    jobs.push({ op: "decode", in: join(dir, name), pretty: false }, { op: "decode", in: join(dir, name), pretty: true });
  }
  const views = ["ps", "fds", "mems", "rss"] as const;
  for (const what of views) jobs.push({ op: "x", dir, what });
  const results = runCrit(jobs);

  let decodes = 0;
  let encodes = 0;
  images.forEach((name, i) => {
    const file = join(dir, name);
    const original = readFileSync(file);
    for (const pretty of [false, true]) {
      const crit = results[2 * i + (pretty ? 1 : 0)]!;
      expect(crit.ok, `crit decode ${name}: ${crit.error}`).toBe(true);
      const critText = crit.output.toString("utf8");
      const ours = stringifyPython(decodeImage(original, file, { pretty }), pretty ? 4 : null);
      expect(ours, `${name} decode${pretty ? " --pretty" : ""}`).toBe(expectedFromCrit(critText, pretty));
      decodes++;
      const reencoded = encodeImage(Buffer.from(critText, "utf8"), `${name}.json`);
      expect(Buffer.from(reencoded).equals(original), `${name}: encode of crit's ${pretty ? "pretty " : ""}JSON is byte-identical`).toBe(true);
      encodes++;
    }
  });

  const imageDir = new ImageDir(dir);
  const ours: Record<(typeof views)[number], () => string> = {
    ps: () => renderPs(psTree(imageDir)),
    fds: () => renderFds(processFds(imageDir, new FileNames(imageDir))),
    mems: () => renderMems(processMems(imageDir, new FileNames(imageDir))),
    rss: () => renderRss(processRss(imageDir, new FileNames(imageDir))),
  };
  let viewCount = 0;
  views.forEach((what, k) => {
    const crit = results[2 * images.length + k]!;
    const text = ours[what]();
    if (crit.ok) {
      expect(text, `x ${what}`).toBe(crit.output.toString("utf8"));
      viewCount++;
    } else {
      // crit's fds/mems/rss die on a zombie (it has no ids/mm images); ckpt marks it instead.
      expect(crit.error, `crit x ${what} failed for another reason`).toMatch(/FileNotFoundError|KeyError/);
      expect(text).toMatch(/\((dead|zombie): no (open files|memory)\)/);
    }
  });
  return { images: images.length, decodes, encodes, views: viewCount };
}
