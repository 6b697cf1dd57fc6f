"""The "step" workload: a process tree that changes in known ways when told to, so that two dumps of
it taken before and after show exactly those changes (ckpt diff).

usage: step.py WORKDIR PHASE   (CKPT_TOKEN and CKPT_STEP_STATE=initial in the environment)

Before the step: step-leader (main thread + step-worker-1) and step-child. The leader holds
WORKDIR/kept.txt open, listens on 127.0.0.1:7431 and has three private anonymous mappings: "buffer"
(4 pages, each filled with a byte), "doomed" (2 pages) and "locked" (2 pages, read-write). Their
addresses and the leader's fds are in ready.json.

The step (SIGUSR1 to the leader), in this order: the child rewrites its last argument (PHASE) in
place to "stepped", drops CAP_SYS_BOOT, sets its supplementary groups to [4242] and its filesystem
uid and gid to 4242 (setfsuid, setfsgid); the leader
appends 20 bytes to kept.txt (its position goes from 26 to 46), writes page 2 of "buffer", unmaps
"doomed", makes "locked" read-only, maps and fills "fresh" (3 pages, shared anonymous), opens
WORKDIR/opened-at-step.txt, connects to its own listener (two new TCP sockets), starts
step-worker-2, forks step-late, rewrites CKPT_STEP_STATE=initial to "stepped" in its own
environment area and sets CKPT_SET_AFTER_START=set-after-start with setenv (which keeps it in the
heap, not in that area). Then it writes WORKDIR/step-1.json: the new pids, tids, fds and addresses.
Every import happens before the step, so no shared library is mapped by it.
"""

import ctypes
import os
import signal
import socket
import sys
import threading

import _common as c

PAGE = 4096
PORT = 7431
PROT_READ, PROT_WRITE = 1, 2
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x01, 0x02, 0x10, 0x20
MAP_FAILED = ctypes.c_void_p(-1).value
PR_CAPBSET_DROP = 24
CAP_SYS_BOOT = 22
KEEP = []

mmap_ = c.libc.mmap
mmap_.restype, mmap_.argtypes = ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
munmap = c.libc.munmap
munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
mprotect = c.libc.mprotect
mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def mapping(addr, pages: int, prot: int, flags: int) -> int:
    got = mmap_(addr, pages * PAGE, prot, flags, -1, 0)
    if got in (None, MAP_FAILED) or (addr is not None and got != addr):
        raise OSError(ctypes.get_errno(), "mmap")
    return got


def fill(addr: int, pages: int, first: int) -> None:
    """Every page written (a different byte each), so that every page is dumped."""
    for i in range(pages):
        ctypes.memset(addr + i * PAGE, first + i, PAGE)


def private_areas() -> dict:
    """buffer, doomed and locked in one PROT_NONE reservation, a PROT_NONE page between them: each
    is a VMA of its own that no change of a neighbour merges or splits."""
    base = mapping(None, 12, 0, MAP_PRIVATE | MAP_ANONYMOUS)
    areas = {"buffer": (1, 4), "doomed": (6, 2), "locked": (9, 2)}
    out = {}
    for n, (name, (at, pages)) in enumerate(areas.items()):
        addr = mapping(base + at * PAGE, pages, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
        fill(addr, pages, 0x10 * (n + 1))
        out[name] = addr
    return out


def stat_field(index: int) -> int:
    """A field of /proc/self/stat by its number in proc(5) (48: arg_start … 51: env_end)."""
    with open("/proc/self/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[index - 3])


def rewrite_area(start_field: int, end_field: int, old: bytes, new: bytes) -> None:
    """Overwrites `old` with `new` (same length) in this process's argv or environment area, as
    setproctitle does: what /proc/PID/cmdline and environ, and a dump, then show."""
    assert len(old) == len(new)
    start, end = stat_field(start_field), stat_field(end_field)
    area = ctypes.string_at(start, end - start)
    at = area.rfind(old)
    if at < 0:
        raise RuntimeError(f"{old!r} not in the area {start:#x}-{end:#x}")
    ctypes.memmove(start + at, new, len(new))


class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capability(cap: int) -> None:
    """Out of the bounding, permitted and effective sets."""
    c.check(c.libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "PR_CAPBSET_DROP")
    header = CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (CapData * 2)()
    c.check(c.libc.capget(ctypes.byref(header), data), "capget")
    word, bit = divmod(cap, 32)
    data[word].effective &= ~(1 << bit)
    data[word].permitted &= ~(1 << bit)
    c.check(c.libc.capset(ctypes.byref(header), data), "capset")


def run_child(told: int, ack: int) -> None:
    c.set_comm("step-child")
    c.die_with_parent()
    os.read(told, 1)
    rewrite_area(48, 49, b"initial\0", b"stepped\0")
    drop_capability(CAP_SYS_BOOT)
    os.setgroups([4242])
    # Only the filesystem ids: CRIU reads a task's rlimits with prlimit(), which without
    # CAP_SYS_RESOURCE (as on these hosts) works only on tasks whose real, effective and saved ids
    # are CRIU's own, so a task that changed those cannot be dumped here.
    c.libc.setfsgid(4242)
    c.libc.setfsuid(4242)
    if c.libc.setfsuid(-1) != 4242 or c.libc.setfsgid(-1) != 4242:
        raise RuntimeError("setfsuid/setfsgid did not take")
    os.write(ack, b"k")
    c.sleep_forever()


def worker(name: str, tids: dict, started: threading.Event) -> None:
    c.set_comm(name)
    tids[name] = threading.get_native_id()
    started.set()
    c.sleep_forever()


def start_worker(name: str, tids: dict) -> None:
    started = threading.Event()
    threading.Thread(target=worker, args=(name, tids, started), daemon=True).start()
    started.wait()


def main() -> None:
    work = sys.argv[1]
    c.setup_namespaces("ckpt-step")
    c.set_comm("step-leader")
    # Blocked in every thread (they inherit the mask), so the step is taken by sigwait below only.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})

    told_r, told_w = os.pipe()
    ack_r, ack_w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(told_w)
            os.close(ack_r)
            run_child(told_r, ack_w)
        finally:
            os._exit(1)
    os.close(told_r)
    os.close(ack_w)

    kept = os.open(os.path.join(work, "kept.txt"), os.O_RDWR | os.O_CREAT, 0o644)
    os.write(kept, b"kept open across the step\n")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", PORT))
    listener.listen(4)
    KEEP.extend([kept, listener])

    areas = private_areas()
    buffer, doomed, locked = areas["buffer"], areas["doomed"], areas["locked"]

    tids: dict = {}
    start_worker("step-worker-1", tids)
    c.write_json_atomically(
        os.path.join(work, "ready.json"),
        {
            "pids": {"leader": os.getpid(), "child": child},
            "markerPrefixes": {},
            "tids": dict(tids),
            "fds": {"kept": kept, "listener": listener.fileno()},
            "addresses": areas,
        },
    )

    signal.sigwait({signal.SIGUSR1})
    os.write(told_w, b"s")
    if os.read(ack_r, 1) != b"k":
        raise RuntimeError("step-child did not take its step")

    os.write(kept, b"written at the step\n")  # its position moves on
    ctypes.memset(buffer + 2 * PAGE, 0xEE, 64)
    if munmap(doomed, 2 * PAGE) != 0:
        raise OSError(ctypes.get_errno(), "munmap")
    if mprotect(locked, 2 * PAGE, PROT_READ) != 0:
        raise OSError(ctypes.get_errno(), "mprotect")
    # Shared: a mapping of its own object, which never merges with a neighbour.
    fresh = mapping(None, 3, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS)
    fill(fresh, 3, 0x40)
    opened = os.open(os.path.join(work, "opened-at-step.txt"), os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(opened, b"opened at the step\n")
    client = socket.create_connection(("127.0.0.1", PORT))
    server, _ = listener.accept()
    KEEP.extend([opened, client, server])
    start_worker("step-worker-2", tids)

    late = os.fork()
    if late == 0:
        c.set_comm("step-late")
        c.die_with_parent()
        c.sleep_forever()

    rewrite_area(50, 51, b"CKPT_STEP_STATE=initial", b"CKPT_STEP_STATE=stepped")
    c.check(c.libc.setenv(b"CKPT_SET_AFTER_START", b"set-after-start", 1), "setenv")
    c.write_json_atomically(
        os.path.join(work, "step-1.json"),
        {
            "pids": {"late": late},
            "tids": {"step-worker-2": tids["step-worker-2"]},
            "fds": {"opened": opened, "client": client.fileno(), "server": server.fileno()},
            "addresses": {"fresh": fresh},
        },
    )
    c.sleep_forever()


if __name__ == "__main__":
    main()
