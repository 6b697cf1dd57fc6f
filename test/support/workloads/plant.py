"""The "plant" workload: strings at addresses it reports, for memory search tests. One marker at a known
offset of a private anonymous mapping, one that straddles a page boundary of it, one in a shared
anonymous mapping (which CRIU dumps as shared memory, not in the process's pages). Each marker is
written into its mapping piece by piece, so the whole string exists nowhere else.

usage: plant.py WORKDIR   (CKPT_TOKEN in the environment; see _common.py)
Writes WORKDIR/addresses.json: {name: {"vaddr": int, "offset": int}} and WORKDIR/ready.json.
"""

import ctypes
import mmap
import os
import sys

import _common as c

PREFIXES = {
    "page": "CKPT_PLANT_PAGE_",
    "boundary": "CKPT_PLANT_EDGE_",
    "shared": "CKPT_PLANT_SHM_",
}
PAGE = 4096
KEEP = []


def plant(area: mmap.mmap, offset: int, prefix: str, token: bytes) -> None:
    p = prefix.encode()
    area[offset : offset + len(p)] = p
    area[offset + len(p) : offset + len(p) + len(token)] = token


def main() -> None:
    work = sys.argv[1]
    c.setup_namespaces("ckpt-plant")
    c.set_comm("plant")
    token = c.token_bytes()
    private = mmap.mmap(-1, 3 * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    shared = mmap.mmap(-1, 2 * PAGE, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
    KEEP.extend([private, shared])
    base = ctypes.addressof(ctypes.c_char.from_buffer(private))
    shared_base = ctypes.addressof(ctypes.c_char.from_buffer(shared))
    edge_length = len(PREFIXES["boundary"]) + len(token)
    offsets = {"page": 100, "boundary": PAGE - edge_length // 2, "shared": 300}
    plant(private, offsets["page"], PREFIXES["page"], token)
    plant(private, offsets["boundary"], PREFIXES["boundary"], token)
    plant(shared, offsets["shared"], PREFIXES["shared"], token)
    addresses = {
        "page": {"vaddr": base + offsets["page"], "offset": offsets["page"]},
        "boundary": {"vaddr": base + offsets["boundary"], "offset": offsets["boundary"]},
        "shared": {"vaddr": shared_base + offsets["shared"], "offset": offsets["shared"]},
    }
    c.write_json_atomically(os.path.join(work, "addresses.json"), addresses)
    c.write_json_atomically(os.path.join(work, "ready.json"), {"pids": {"leader": os.getpid()}, "markerPrefixes": PREFIXES})
    c.sleep_forever()


if __name__ == "__main__":
    main()
