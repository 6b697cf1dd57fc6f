/**
 * What `ckpt scan` reports, as zod schemas: the JSON output and what an HTML report embeds. Addresses
 * are hex strings ("0x7f…": 64-bit values do not fit a JSON number); offsets in files and queues are
 * numbers.
 */
import { z } from "zod";

const Hex = z.string().regex(/^0x[0-9a-f]+$/);

export const Vma = z.object({ start: Hex, end: Hex, perms: z.string(), file: z.string().optional() });

const InProcess = { pid: z.number().int(), comm: z.string(), address: Hex };

export const Location = z.discriminatedUnion("kind", [
  /** A process's dumped memory. */
  z.object({ kind: z.literal("memory"), ...InProcess, vma: Vma.optional() }),
  /** The environment block at the top of the stack (mm_env_start..mm_env_end). */
  z.object({ kind: z.literal("environment"), ...InProcess, variable: z.string().optional() }),
  /** The argument block (mm_arg_start..mm_arg_end). */
  z.object({ kind: z.literal("cmdline"), ...InProcess }),
  /** A shared memory object (shared anonymous mapping, memfd, SysV segment), at an offset in it. */
  z.object({ kind: z.literal("shared-memory"), shmid: z.number().int(), label: z.string(), offset: z.number().int() }),
  /** A file the container wrote (rootfs-diff.tar). */
  z.object({ kind: z.literal("rootfs-file"), path: z.string(), offset: z.number().int() }),
  /** A deleted file a process held open, saved by CRIU as a ghost file. */
  z.object({
    kind: z.literal("ghost-file"),
    path: z.string(),
    offset: z.number().int(),
    image: z.string(),
    openBy: z.array(z.object({ pid: z.number().int(), fd: z.number().int() })),
  }),
  /** Bytes queued in a kernel object: a pipe or FIFO, a socket's receive queue, a TCP stream. */
  z.object({
    kind: z.literal("queue"),
    queue: z.enum(["pipe", "fifo", "unix-socket", "packet-socket", "netlink-socket", "socket", "tcp-receive", "tcp-send"]),
    inode: z.number().int(),
    offset: z.number().int(),
    image: z.string(),
  }),
]);
export type Location = z.infer<typeof Location>;

export const Finding = z.object({
  rule: z.string(),
  description: z.string(),
  /** The secret, or a short prefix and suffix of it when redacted. */
  secret: z.string(),
  /** The match with its secret redacted the same way, non-printable bytes escaped. */
  excerpt: z.string(),
  length: z.number().int(),
  entropy: z.number(),
  /** Every place the same secret was seen, in the order scanned. */
  locations: z.array(Location).min(1),
});
export type Finding = z.infer<typeof Finding>;

export const ScanResult = z.object({
  archive: z.string(),
  redacted: z.boolean(),
  rules: z.array(z.string()),
  scanned: z.object({
    memoryBytes: z.number().int(),
    regions: z.number().int(),
    rootfsFiles: z.number().int(),
    rootfsBytes: z.number().int(),
    ghostFiles: z.number().int(),
    queues: z.number().int(),
    queueBytes: z.number().int(),
  }),
  /** What could not be scanned (pages not in the images, files too big to read), one line each. */
  notes: z.array(z.string()),
  findings: z.array(Finding),
});
export type ScanResult = z.infer<typeof ScanResult>;
