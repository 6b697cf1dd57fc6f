"""Helpers shared by the CRIU test workloads (run with Debian's /usr/bin/python3, started by reaper.py
under `unshare --ipc --uts --net`).

Environment: CKPT_TOKEN, a random hex string per run. Markers are assembled from a constant
prefix and the token only where they are meant to live (a heap string, a mapping, a kernel queue),
so a search for the whole marker finds it only there: the prefix and the token alone appear
elsewhere (code constants, environment), the joined string does not.
"""

import ctypes
import fcntl
import json
import os
import socket
import struct
import time

libc = ctypes.CDLL(None, use_errno=True)

PR_SET_NAME = 15
PR_SET_PDEATHSIG = 1
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
ALNUM = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def token() -> str:
    return os.environ["CKPT_TOKEN"]


def token_bytes() -> bytes:
    return os.environ["CKPT_TOKEN"].encode()


def check(ret: int, what: str) -> int:
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def set_comm(name: str) -> None:
    """Names the calling thread (comm), so the dump's pstree and core images are easy to read."""
    libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


def die_with_parent() -> None:
    """Children die with their parent, so a killed leader never leaves a running orphan."""
    libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)


def setup_namespaces(hostname: str, ping_sockets: bool = False) -> None:
    """What `ip link set lo up; hostname NAME; sysctl -w net.ipv4.ping_group_range="0 0"` did for
    the unshare-mix fixture, without extra processes."""
    socket.sethostname(hostname)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, ifr))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    if ping_sockets:
        with open("/proc/sys/net/ipv4/ping_group_range", "w") as f:
            f.write("0 0\n")


def write_json_atomically(path: str, obj: object) -> None:
    """The harness polls for the file: it must never see it half written."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.rename(tmp, path)


def wait_until(pred, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.005)


def proc_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def wait_zombie(pid: int) -> None:
    """A forked child that exited is a zombie only once the kernel has finished its exit."""
    wait_until(lambda: proc_state(pid) == "Z", f"pid {pid} to become a zombie")


def thread_ids() -> list:
    return sorted(int(t) for t in os.listdir("/proc/self/task"))


def sleep_forever() -> None:
    while True:
        time.sleep(3600)


def derive(name: str, length: int, alphabet: bytes = ALNUM) -> str:
    """`length` characters of `alphabet`, from the token and a name: random-looking, unique per run."""
    # Imported here: the other workloads' memory stays as it was without it.
    import hashlib

    out = bytearray()
    counter = 0
    while len(out) < length:
        for b in hashlib.sha256(f"{token()}/{name}/{counter}".encode()).digest():
            if len(out) < length:
                out.append(alphabet[b % len(alphabet)])
        counter += 1
    return out.decode()


def put(area, offset: int, text: str) -> None:
    """Writes text into a mapping in two pieces, so the whole string exists only there."""
    data = text.encode()
    half = len(data) // 2
    area[offset : offset + half] = data[:half]
    area[offset + half : offset + len(data)] = data[half:]
