/** PAX extended headers: record lengths are byte counts, so non-ASCII values must come out whole. */
import { describe, expect, it } from "vitest";
import { parsePax } from "../../src/checkpoint/archive/tar-header.js";

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  // The length prefix counts itself: find the width that fits.
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len++;
  return Buffer.from(`${len}${body}`, "utf8");
}

describe("parsePax", () => {
  it("reads records whose values hold multi-byte UTF-8", () => {
    const data = Buffer.concat([paxRecord("path", "home/ünï.txt"), paxRecord("size", "12345678901"), paxRecord("linkpath", "日本/ターゲット")]);
    expect(parsePax(data)).toEqual({ path: "home/ünï.txt", size: "12345678901", linkpath: "日本/ターゲット" });
  });

  it("stops at a record whose length runs past the data", () => {
    const good = paxRecord("path", "a");
    const data = Buffer.concat([good, Buffer.from("99 path=b\n")]);
    expect(parsePax(data)).toEqual({ path: "a" });
  });
});
