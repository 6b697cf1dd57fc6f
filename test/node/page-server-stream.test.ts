/**
 * The page-server stream as the agents see it: the lazy-pages daemon's 32-byte requests split
 * wherever chunks end, the close request found (the only thing that may end the source), a request
 * CRIU does not know, and the pages counted in the answers however they are cut.
 */
import { describe, expect, it } from "vitest";
import { AnswerCounter, failingRequest, isCloseRequest, PAGE_SIZE, REQUEST_BYTES, RequestFramer } from "../../src/node/page-server-stream.js";

/** struct page_server_iov as CRIU lays it out: u32 cmd, padding, u64 nr_pages, vaddr, dst_id. */
function request(cmd: number, pages = 0, vaddr = 0n, dst = 0n): Buffer {
  const b = Buffer.alloc(REQUEST_BYTES);
  b.writeUInt32LE(cmd, 0);
  b.writeBigUInt64LE(BigInt(pages), 8);
  b.writeBigUInt64LE(vaddr, 16);
  b.writeBigUInt64LE(dst, 24);
  return b;
}

const GET = 7;
const ADD_F_PRESENT = 6 | (4 << 16);

describe("RequestFramer", () => {
  it("gives whole requests only, whatever the chunks", () => {
    const stream = Buffer.concat([request(GET, 1, 0x1000n), request(GET, 16, 0x2000n), request(0x1024)]);
    for (const cut of [1, 5, 31, 32, 33, 50, 95]) {
      const f = new RequestFramer();
      const got = [...f.push(stream.subarray(0, cut)), ...f.push(stream.subarray(cut))];
      expect(got.map((r) => r.readUInt32LE(0))).toEqual([GET, GET, 0x1024]);
      expect(Buffer.concat(got)).toEqual(stream);
      expect(f.partial).toBe(0);
    }
  });

  it("keeps a request's start until the rest comes", () => {
    const f = new RequestFramer();
    expect(f.push(request(GET).subarray(0, 20))).toEqual([]);
    expect(f.partial).toBe(20);
  });
});

describe("close and failing requests", () => {
  it("PS_IOV_CLOSE and PS_IOV_FORCE_CLOSE close, with or without flag bits; a page request does not", () => {
    expect(isCloseRequest(request(0x1023))).toBe(true);
    expect(isCloseRequest(request(0x1024))).toBe(true);
    expect(isCloseRequest(request(0x1024 | (1 << 16)))).toBe(true);
    expect(isCloseRequest(request(GET, 4))).toBe(false);
  });

  it("the failing request is one whole request that no page server knows (not a close)", () => {
    const r = failingRequest();
    expect(r.length).toBe(REQUEST_BYTES);
    expect(isCloseRequest(r)).toBe(false);
    expect(r.readUInt32LE(0) & 0xffff).not.toBeOneOf([1, 2, 3, 4, 5, 6, 7, 0x1023, 0x1024]);
  });
});

describe("AnswerCounter", () => {
  it("counts the pages of each answer, cut anywhere, and stops at the status that answers a close", () => {
    const answers = Buffer.concat([
      request(ADD_F_PRESENT, 1),
      Buffer.alloc(PAGE_SIZE, 1),
      request(ADD_F_PRESENT, 3),
      Buffer.alloc(3 * PAGE_SIZE, 2),
      Buffer.from([0, 0, 0, 0]),
    ]);
    for (const size of [1, 7, 32, 4000, 4096, 10_000, answers.length]) {
      const c = new AnswerCounter();
      for (let at = 0; at < answers.length; at += size) c.push(answers.subarray(at, at + size));
      expect([c.pages, c.bytes]).toEqual([4, answers.length]);
    }
  });
});
