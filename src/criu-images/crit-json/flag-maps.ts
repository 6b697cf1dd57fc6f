/**
 * The named bit maps and value dictionaries crit uses for `(criu).flags` and `(criu).dict` fields
 * (pycriu's pb2dict tables). Order matters: names print in table order.
 */
export type FlagMap = ReadonlyArray<readonly [name: string, bit: number]>;

export const FLAG_MAPS: Readonly<Record<string, FlagMap>> = {
  "mmap.prot": [
    ["PROT_READ", 0x1],
    ["PROT_WRITE", 0x2],
    ["PROT_EXEC", 0x4],
  ],
  "mmap.flags": [
    ["MAP_SHARED", 0x1],
    ["MAP_PRIVATE", 0x2],
    ["MAP_DROPPABLE", 0x08],
    ["MAP_ANON", 0x20],
    ["MAP_GROWSDOWN", 0x0100],
  ],
  "mmap.status": [
    ["VMA_AREA_NONE", 0],
    ["VMA_AREA_REGULAR", 1 << 0],
    ["VMA_AREA_STACK", 1 << 1],
    ["VMA_AREA_VSYSCALL", 1 << 2],
    ["VMA_AREA_VDSO", 1 << 3],
    ["VMA_AREA_HEAP", 1 << 5],
    ["VMA_FILE_PRIVATE", 1 << 6],
    ["VMA_FILE_SHARED", 1 << 7],
    ["VMA_ANON_SHARED", 1 << 8],
    ["VMA_ANON_PRIVATE", 1 << 9],
    ["VMA_AREA_SYSVIPC", 1 << 10],
    ["VMA_AREA_SOCKET", 1 << 11],
    ["VMA_AREA_VVAR", 1 << 12],
    ["VMA_AREA_AIORING", 1 << 13],
    ["VMA_AREA_MEMFD", 1 << 14],
    ["VMA_AREA_SHSTK", 1 << 15],
    ["VMA_AREA_UPROBES", 1 << 17],
    ["VMA_UNSUPP", 2 ** 31],
  ],
  "rfile.flags": [
    ["O_WRONLY", 0o1],
    ["O_RDWR", 0o2],
    ["O_CREAT", 0o100],
    ["O_EXCL", 0o200],
    ["O_NOCTTY", 0o400],
    ["O_TRUNC", 0o1000],
    ["O_APPEND", 0o2000],
    ["O_NONBLOCK", 0o4000],
    ["O_DSYNC", 0o10000],
    ["FASYNC", 0o20000],
    ["O_DIRECT", 0o40000],
    ["O_LARGEFILE", 0o100000],
    ["O_DIRECTORY", 0o200000],
    ["O_NOFOLLOW", 0o400000],
    ["O_NOATIME", 0o1000000],
    ["O_CLOEXEC", 0o2000000],
  ],
  "pmap.flags": [
    ["PE_PARENT", 1 << 0],
    ["PE_LAZY", 1 << 1],
    ["PE_PRESENT", 1 << 2],
  ],
  "seals.flags": [
    ["F_SEAL_SEAL", 0x0001],
    ["F_SEAL_SHRINK", 0x0002],
    ["F_SEAL_GROW", 0x0004],
    ["F_SEAL_WRITE", 0x0008],
    ["F_SEAL_FUTURE_WRITE", 0x0010],
  ],
};

/**
 * CRIU's task states (compel/include/uapi/task-state.h). crit 4.2.1 labels 3 "Zombie" and 6 "Stopped"
 * and leaves 2 (how CRIU dumps a zombie) numeric; ckpt prints and reads CRIU's own meaning.
 */
export const TASK_STATE_NAMES: ReadonlyMap<number, string> = new Map([
  [1, "Alive"],
  [2, "Dead"],
  [3, "Stopped"],
  [6, "Zombie"],
]);

/** `(criu).dict` tables, keyed by dictionary then by field name. */
export const DICT_MAPS: Readonly<Record<string, Readonly<Record<string, ReadonlyMap<number, string>>>>> = {
  gen: { task_state: TASK_STATE_NAMES },
  sk: {
    family: new Map([
      [1, "UNIX"],
      [2, "INET"],
      [10, "INET6"],
      [16, "NETLINK"],
      [17, "PACKET"],
    ]),
    type: new Map([
      [1, "STREAM"],
      [2, "DGRAM"],
      [3, "RAW"],
      [5, "SEQPACKET"],
      [10, "PACKET"],
    ]),
    state: new Map([
      [1, "ESTABLISHED"],
      [2, "SYN_SENT"],
      [3, "SYN_RECV"],
      [4, "FIN_WAIT1"],
      [5, "FIN_WAIT2"],
      [6, "TIME_WAIT"],
      [7, "CLOSE"],
      [8, "CLOSE_WAIT"],
      [9, "LAST_ACK"],
      [10, "LISTEN"],
    ]),
    proto: new Map([
      [0, "IP"],
      [6, "TCP"],
      [17, "UDP"],
      [136, "UDPLITE"],
    ]),
  },
};

export function formatFlags(value: number | bigint, map: FlagMap): string {
  if (typeof value === "number" && value >= 0 && value <= 0xffffffff) {
    // Flag fields are u32: plain number bit operations, no BigInt.
    let names = "";
    let rest = value;
    for (const [name, bit] of map) {
      if (bit !== 0 && (value & bit) !== 0) names += names ? " | " + name : name;
      rest = (rest & ~bit) >>> 0;
    }
    if (rest) names += (names ? " | " : "") + "0x" + rest.toString(16);
    return names;
  }
  const names: string[] = [];
  let rest = BigInt(value);
  for (const [name, bit] of map) {
    const b = BigInt(bit);
    if (BigInt(value) & b) names.push(name);
    rest &= ~b;
  }
  if (rest) names.push("0x" + rest.toString(16));
  return names.join(" | ");
}
