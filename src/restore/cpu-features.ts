/**
 * The CPU features a dump's tasks use, and those this node's CPU has. On x86_64 CRIU saves each
 * thread's extended state (core-TID.img: thread_info.fpregs.xsave); its xstate_bv has a bit set for
 * every XSAVE component that was not in its initial state, i.e. that the thread had used. Such state
 * cannot be restored on a CPU without that component, and the task's code would fault on it anyway.
 * It is a lower bound: code chosen for the dumping CPU (glibc's ifuncs) may use more after restore.
 *
 * Only xstate_bv counts: CRIU writes the component arrays (ymmh_space, opmask_reg, zmm_upper…) for
 * every component the dumping CPU supports, used or not, so their presence says what the dumping
 * CPU had, not what the task used.
 */
import type { ImageDir } from "../criu-images/image-dir.js";
import type { WireMessage } from "../criu-images/wire-reader.js";

/**
 * XSAVE state components (Intel SDM vol. 1 §13.1) and the /proc/cpuinfo flag a CPU must have to
 * hold each. Bits 0 (x87) and 1 (SSE) are left out: every x86_64 CPU has them.
 */
export const XSTATE_COMPONENTS: readonly { bit: number; name: string; feature: string }[] = [
  { bit: 2, name: "AVX (YMM_Hi128)", feature: "avx" },
  { bit: 3, name: "MPX BNDREGS", feature: "mpx" },
  { bit: 4, name: "MPX BNDCSR", feature: "mpx" },
  { bit: 5, name: "AVX-512 opmask", feature: "avx512f" },
  { bit: 6, name: "AVX-512 ZMM_Hi256", feature: "avx512f" },
  { bit: 7, name: "AVX-512 Hi16_ZMM", feature: "avx512f" },
  { bit: 9, name: "PKRU", feature: "pku" },
  { bit: 17, name: "AMX TILECFG", feature: "amx_tile" },
  { bit: 18, name: "AMX TILEDATA", feature: "amx_tile" },
];

/** The features in the order of XSTATE_COMPONENTS, each once. */
const FEATURE_ORDER = [...new Set(XSTATE_COMPONENTS.map((c) => c.feature))];

/**
 * The /proc/cpuinfo flag that shows a feature usable: protection keys need the kernel to have
 * enabled them (ospke, CR4.PKE), not only the CPU to have them (pku).
 */
const HOST_FLAG: Record<string, string> = { pku: "ospke" };

/** CORE_ENTRY's march value for x86_64 (core.proto). */
const MARCH_X86_64 = 1;

function sortFeatures(features: Iterable<string>): string[] {
  const set = new Set(features);
  return FEATURE_ORDER.filter((f) => set.has(f));
}

/** The features an xstate_bv shows in use; the codec gives a uint64 as bigint, crit JSON as number or string. */
export function xstateFeatures(xstateBv: bigint | number | string): string[] {
  const bv = BigInt(xstateBv);
  return sortFeatures(XSTATE_COMPONENTS.filter((c) => (bv >> BigInt(c.bit)) & 1n).map((c) => c.feature));
}

/**
 * The features one thread's core image shows in use: undefined when it is not an x86_64 core with
 * registers (another architecture; a zombie's core has no thread_info), [] when it has no xsave
 * (a CPU without XSAVE) or uses nothing beyond SSE.
 */
export function coreCpuFeatures(core: WireMessage): string[] | undefined {
  if (Number(core.mtype) !== MARCH_X86_64) return undefined;
  const ti = core.thread_info as WireMessage | undefined;
  if (!ti) return undefined;
  const xsave = (ti.fpregs as WireMessage | undefined)?.xsave as WireMessage | undefined;
  const bv = xsave?.xstate_bv;
  if (bv === undefined) return [];
  return xstateFeatures(bv as bigint | number | string);
}

/**
 * The union of the features every task and thread of a dump (pstree.img) uses; undefined when the
 * dump has no x86_64 task with registers.
 */
export function dumpCpuFeatures(images: ImageDir): string[] | undefined {
  const used = new Set<string>();
  let x86 = false;
  for (const entry of images.entries("pstree.img")) {
    const pid = Number(entry.pid ?? (entry.ns_pid as number[] | undefined)?.[0] ?? 0);
    const threads = (entry.threads as number[] | undefined) ?? [];
    for (const tid of threads.length ? threads : [pid]) {
      const core = images.one(`core-${tid}.img`);
      const features = core && coreCpuFeatures(core);
      if (!features) continue;
      x86 = true;
      for (const f of features) used.add(f);
    }
  }
  return x86 ? sortFeatures(used) : undefined;
}

/** The flags of the first processor of a /proc/cpuinfo text; undefined when it has no flags line (not x86). */
export function parseCpuinfoFlags(cpuinfo: string): string[] | undefined {
  const m = /^flags\s*:(.*)$/m.exec(cpuinfo);
  return m ? m[1]!.trim().split(/\s+/).filter(Boolean) : undefined;
}

/** The features of `used` that a CPU with these /proc/cpuinfo flags lacks. */
export function missingCpuFeatures(used: readonly string[], flags: readonly string[]): string[] {
  const have = new Set(flags);
  return used.filter((f) => !have.has(HOST_FLAG[f] ?? f));
}
