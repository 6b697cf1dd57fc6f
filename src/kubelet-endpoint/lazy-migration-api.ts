/**
 * The shapes of a lazy (post-copy) migration on the wire, shared by the nodes that answer and the
 * client that drives them. None is a kubelet API.
 *
 * On the source: `POST /migrations/NS/POD/CTR?mode=lazy` starts the dump and answers its id and a
 * one-time token at once; `GET /migrations/ID` says how it goes; `GET /migrations/ID/archive` (the
 * checkpoint without its memory pages, once dumped) and `GET /migrations/ID/pages` (an upgraded
 * connection carrying CRIU's page-server protocol) are for the target node, each usable once with
 * the token in the LAZY_TOKEN_HEADER header; `DELETE /migrations/ID` calls it off (the source runs
 * on). On the target: `POST /lazy-restore` makes the pod and answers once its containers run;
 * `GET /lazy-restore/NS/POD` says how the page transfer goes.
 */
import { z } from "zod";

export const LAZY_TOKEN_HEADER = "x-ckpt-migration-token";
/** The Upgrade protocol of the page connection. */
export const PAGES_PROTOCOL = "ckpt-lazy-pages";

export const LazyDumpStartedSchema = z.object({ id: z.string(), token: z.string() });
export type LazyDumpStarted = z.infer<typeof LazyDumpStartedSchema>;

export const LazyDumpStatusSchema = z.object({
  id: z.string(),
  /** ns/pod/container. */
  target: z.string(),
  /**
   * dumping: frozen, everything but the memory being dumped; serving: the pages go to the target
   * as it asks; moved: every page was served and the container is gone from this node; failed: the
   * container runs on here (`resumed`) or could not be resumed.
   */
  state: z.enum(["dumping", "serving", "moved", "failed"]),
  error: z.string().optional(),
  resumed: z.boolean().optional(),
  /** The archive of everything but the memory pages, once dumped. */
  archiveBytes: z.number().optional(),
  /** Bytes the page server sent. */
  pageBytes: z.number(),
  /** ms per step on this node: pause, dump (frozen until everything but the pages is written), archive. */
  durations: z.record(z.string(), z.number()),
});
export type LazyDumpStatus = z.infer<typeof LazyDumpStatusSchema>;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export const LazyRestoreBodySchema = z
  .object({
    /** The pod to make (a v1 Pod): each lazily restored container's image is its base image. */
    pod: z.record(z.string(), z.unknown()),
    source: z
      .object({
        url: z.url({ protocol: /^https$/, error: "the source node's https:// endpoint" }),
        /** SHA-256 fingerprint of the source's serving certificate, as the client saw it (AA:BB:…). */
        fingerprint: z.string().regex(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/, "a SHA-256 certificate fingerprint (AA:BB:…)"),
      })
      .strict(),
    containers: z
      .array(z.object({ name: z.string().regex(DNS_LABEL, "a container name"), id: z.string().regex(/^[0-9a-f]{32}$/), token: z.string().min(16) }).strict())
      .min(1),
  })
  .strict();
export type LazyRestoreBody = z.infer<typeof LazyRestoreBodySchema>;

export const LazyTransferSchema = z.object({
  container: z.string(),
  /** restoring: archive, daemon, runc restore; transferring: the pod runs, pages come in; done; failed (the copy was killed). */
  state: z.enum(["restoring", "transferring", "done", "failed"]),
  error: z.string().optional(),
  pages: z.number(),
  /** Pages the dump left for the transfer. */
  totalPages: z.number(),
  /** Bytes received from the source (pages and their headers). */
  bytes: z.number(),
  /** Since the page connection opened. */
  ms: z.number(),
});
export type LazyTransfer = z.infer<typeof LazyTransferSchema>;

export const LazyRestoreStatusSchema = z.object({ namespace: z.string(), pod: z.string(), containers: z.array(LazyTransferSchema) });
export type LazyRestoreStatus = z.infer<typeof LazyRestoreStatusSchema>;
