"""The "big" workload: one process with MEGABYTES MiB of anonymous memory, every page non-zero, split
into VMAS mappings, for benchmarks that need hundreds of MB of pages and thousands of VMAs.

usage: big.py WORKDIR MEGABYTES VMAS   (CKPT_TOKEN in the environment; see _common.py)

One mmap is filled, then every other slice is mprotect'ed to PROT_READ: neighbouring slices differ in
protection, so the kernel keeps them as separate VMAs (the first slice may still merge with a
neighbouring read-write anonymous mapping made later, so it can extend below the region). Every page
starts with the "big" marker (prefix + token) followed by a filler; the page pattern is built once
and copied in 1 MiB blocks, so the marker is also left in the heap.
Writes WORKDIR/ready.json with pids, markerPrefixes and region {start, bytes, vmas}.
"""

import ctypes
import mmap
import os
import sys

import _common as c

PREFIXES = {"big": "CKPT_BIG_"}  # start of every page of the region
PROT_READ, PROT_WRITE = 0x1, 0x2
MAP_PRIVATE, MAP_ANONYMOUS = 0x02, 0x20
BLOCK = 1 << 20

mmap_ = c.libc.mmap
mmap_.restype = ctypes.c_void_p
mmap_.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
mprotect = c.libc.mprotect
mprotect.restype = ctypes.c_int
mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def main() -> None:
    work, megabytes, vmas = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    c.setup_namespaces("ckpt-big")
    c.set_comm("big-leader")
    page = mmap.PAGESIZE
    total = megabytes * BLOCK
    pages = total // page
    if not 1 <= vmas <= pages:
        sys.exit(f"big.py: need 1 <= vmas <= {pages}")

    base = mmap_(None, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if base in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "mmap")
    head = PREFIXES["big"].encode() + c.token_bytes() + b"|"
    pattern = (head + b"big-filler." * (page // 11))[:page]
    block = pattern * (BLOCK // page)
    for off in range(0, total, BLOCK):
        ctypes.memmove(base + off, block, min(BLOCK, total - off))

    # Slice i covers pages [i*pages//vmas, (i+1)*pages//vmas); odd slices become read-only.
    for i in range(1, vmas, 2):
        start, end = i * pages // vmas, (i + 1) * pages // vmas
        c.check(mprotect(base + start * page, (end - start) * page, PROT_READ), "mprotect")

    c.write_json_atomically(
        os.path.join(work, "ready.json"),
        {
            "pids": {"leader": os.getpid()},
            "markerPrefixes": PREFIXES,
            "region": {"start": base, "bytes": total, "vmas": vmas},
        },
    )
    c.sleep_forever()


if __name__ == "__main__":
    main()
