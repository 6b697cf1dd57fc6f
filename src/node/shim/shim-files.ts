/**
 * The files a container shim and the agent share in the container directory: shim.json (what to
 * run, written by the agent), shim.pid, exit.json (written by the shim once runc exits). The agent
 * reads them back through these schemas; the shim itself does without zod (container-shim.ts).
 */
import { z } from "zod";

export const ShimConfigSchema = z.object({
  argv: z.array(z.string()).min(1),
  env: z.record(z.string(), z.string()),
  logPath: z.string(),
});
export type ShimConfig = z.infer<typeof ShimConfigSchema>;

export const ExitStatusSchema = z.object({
  exitCode: z.number().int(),
  signal: z.string().nullable(),
  startedAt: z.string(),
  finishedAt: z.string(),
});
export type ExitStatus = z.infer<typeof ExitStatusSchema>;

export const SHIM_CONFIG = "shim.json";
export const SHIM_PID = "shim.pid";
export const EXIT_STATUS = "exit.json";
