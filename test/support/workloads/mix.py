"""The "mix" workload: one process tree holding every kind of state the image codec has to handle.

usage: mix.py WORKDIR   (CKPT_TOKEN in the environment; see _common.py)

Tree: mix-leader (main thread + mix-worker-1, mix-worker-2), mix-child (running), mix-zombie
(exited, never reaped: task_state 2 in the dump). When everything is set up the leader writes
WORKDIR/ready.json: {"pids": {...}, "markerPrefixes": {name: prefix}}; each marker is prefix+token.
Where each marker lives is said next to the code that puts it there.
"""

import ctypes
import fcntl
import mmap
import os
import select
import signal
import socket
import sys
import threading
import traceback

import _common as c

TCP_PORT = 7411
UDP_PORT = 7412
ABSTRACT_NAME = "\0ckpt-mix-abstract"
SHM_KEY, SEM_KEY, MSG_KEY = 0x434B5031, 0x434B5032, 0x434B5033
IPC_CREAT = 0o1000
SETVAL = 16
CLOCK_REALTIME, CLOCK_MONOTONIC = 0, 1
IN_CREATE, IN_DELETE = 0x100, 0x200

# Marker name -> prefix. The harness reads this table from ready.json, so it lives only here.
PREFIXES = {
    "leader": "CKPT_LEADER_SECRET_",  # leader's heap (a Python str), built after every fork
    "child": "CKPT_CHILD_SECRET_",  # child's heap
    "childMmap": "CKPT_CHILD_MMAP_",  # start of a page of a private anonymous mapping of the child
    "sharedAnon": "CKPT_SHARED_ANON_",  # shared anonymous mapping (pagemap-shmem), offset 0
    "memfd": "CKPT_MEMFD_",  # memfd contents, offset 0
    "sysvShm": "CKPT_SYSV_SHM_",  # SysV shm segment, offset 0
    "sysvMsg": "CKPT_SYSV_MSG_",  # first message (mtype 42) of the SysV queue
    "pipe": "CKPT_PIPE_",  # pipes-data.img
    "fifo": "CKPT_FIFO_",  # fifo-data.img
    "unixL2C": "CKPT_UNIX_L2C_",  # sk-queues.img, queued on the child's stream socket
    "unixC2L": "CKPT_UNIX_C2L_",  # sk-queues.img, queued on the leader's stream socket
    "dgram": "CKPT_DGRAM_",  # sk-queues.img, the datagram on the abstract socket
    "tcpL2C": "CKPT_TCP_L2C_",  # child's tcp-stream inq (followed by filler)
    "tcpC2L": "CKPT_TCP_C2L_",  # leader's tcp-stream inq
    "ghostSmall": "CKPT_GHOST_SMALL_",  # ghost-file (inline), offset 0
    "ghostBigHead": "CKPT_GHOST_HEAD_",  # chunked ghost-file, offset 0
    "ghostBigTail": "CKPT_GHOST_TAIL_",  # chunked ghost-file, offset GHOST_TAIL_OFFSET
}
GHOST_BIG_SIZE = 256 * 1024
GHOST_TAIL_OFFSET = 192 * 1024
TCP_FILLER = b"ckpt-tcp-filler." * 256  # 4 KiB; what fills the child's window and the leader's out-queue

KEEP = []  # every fd-owning object, so that garbage collection closes nothing


def prefix(name: str) -> bytes:
    return PREFIXES[name].encode()


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", Timespec), ("it_value", Timespec)]


class Sigevent(ctypes.Structure):
    _fields_ = [
        ("sigev_value", ctypes.c_void_p),
        ("sigev_signo", ctypes.c_int),
        ("sigev_notify", ctypes.c_int),
        ("_pad", ctypes.c_byte * 48),
    ]


def libc_fn(name, restype, *argtypes):
    fn = getattr(c.libc, name)
    fn.restype, fn.argtypes = restype, list(argtypes)
    return fn


timerfd_create = libc_fn("timerfd_create", ctypes.c_int, ctypes.c_int, ctypes.c_int)
timerfd_settime = libc_fn(
    "timerfd_settime", ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.POINTER(Itimerspec), ctypes.c_void_p
)
signalfd = libc_fn("signalfd", ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
inotify_init1 = libc_fn("inotify_init1", ctypes.c_int, ctypes.c_int)
inotify_add_watch = libc_fn("inotify_add_watch", ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
timer_create = libc_fn("timer_create", ctypes.c_int, ctypes.c_int, ctypes.POINTER(Sigevent), ctypes.c_void_p)
timer_settime = libc_fn(
    "timer_settime", ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(Itimerspec), ctypes.c_void_p
)
shmget = libc_fn("shmget", ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_int)
shmat = libc_fn("shmat", ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
semget = libc_fn("semget", ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int)
semctl = libc_fn("semctl", ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int)
msgget = libc_fn("msgget", ctypes.c_int, ctypes.c_int, ctypes.c_int)
msgsnd = libc_fn("msgsnd", ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)


def arm_timerfd(clock: int, value: int, interval: int, flags: int = 0) -> int:
    fd = c.check(timerfd_create(clock, flags), "timerfd_create")
    spec = Itimerspec(Timespec(interval, 0), Timespec(value, 0))
    c.check(timerfd_settime(fd, 0, ctypes.byref(spec), None), "timerfd_settime")
    return fd


def run_child(work: str, conn_port: int, pipe_r: int, unix_end: socket.socket) -> None:
    """mix-child: holds the pipe's read end, its end of the socketpair and of the TCP connection (none
    of them ever read), a POSIX lock, a one-shot timerfd and its own markers."""
    c.set_comm("mix-child")
    c.die_with_parent()
    tok = c.token_bytes()
    secret = "".join((PREFIXES["child"], c.token()))  # the child's heap marker
    KEEP.extend([secret, pipe_r, unix_end])

    # Private anonymous page whose first bytes are the marker; assembled in place.
    priv = mmap.mmap(-1, 2 * mmap.PAGESIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    p = prefix("childMmap")
    priv[0 : len(p)] = p
    priv[len(p) : len(p) + len(tok)] = tok
    KEEP.append(priv)

    lock_fd = os.open(os.path.join(work, "posix-lock.txt"), os.O_RDWR | os.O_CREAT, 0o644)
    os.write(lock_fd, b"posix-lock-file\n")
    fcntl.lockf(lock_fd, fcntl.LOCK_EX, 10, 0)  # POSIX write lock on bytes 0..9
    KEEP.append(lock_fd)

    # A small receive buffer (set before connect) lets the leader fill this side's window.
    conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn.connect(("127.0.0.1", conn_port))
    conn.send(prefix("tcpC2L"))
    conn.send(tok)
    KEEP.append(conn)

    unix_end.sendmsg([prefix("unixC2L"), tok])
    KEEP.append(arm_timerfd(CLOCK_REALTIME, 3600, 0, os.O_NONBLOCK))

    c.write_json_atomically(os.path.join(work, "child-ready.json"), {"pid": os.getpid()})
    c.sleep_forever()


def main() -> None:
    work = sys.argv[1]
    c.setup_namespaces("ckpt-mix", ping_sockets=True)
    c.set_comm("mix-leader")
    tok = c.token_bytes()

    # Shared anonymous mapping, inherited by the child: its pages are dumped once, as shmem.
    shared = mmap.mmap(-1, 2 * mmap.PAGESIZE)
    p = prefix("sharedAnon")
    shared[0 : len(p)] = p
    shared[len(p) : len(p) + len(tok)] = tok
    KEEP.append(shared)

    pipe_r, pipe_w = os.pipe()
    os.writev(pipe_w, [prefix("pipe"), tok])  # unread: pipes-data.img
    unix_leader, unix_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this small send buffer: the out-queue the filler builds stays small.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    listener.bind(("127.0.0.1", TCP_PORT))
    listener.listen(8)

    child = os.fork()
    if child == 0:
        try:
            listener.close()
            unix_leader.close()
            os.close(pipe_w)
            run_child(work, TCP_PORT, pipe_r, unix_child)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(1)
    os.close(pipe_r)
    unix_child.close()

    zombie = os.fork()
    if zombie == 0:
        c.set_comm("mix-zombie")
        os._exit(7)  # never waited for: stays a zombie child of the leader

    KEEP.extend([pipe_w, unix_leader, listener])
    conn, _ = listener.accept()
    KEEP.append(conn)
    conn.send(prefix("tcpL2C"))
    conn.send(tok)
    # Fill the child's receive window, then our send buffer: the rest stays in our out-queue,
    # unsent and unacknowledged, so the dump has a non-empty outq on this side.
    conn.setblocking(False)
    try:
        while True:
            conn.send(TCP_FILLER)
    except BlockingIOError:
        pass
    unix_leader.sendmsg([prefix("unixL2C"), tok])

    fifo_path = os.path.join(work, "mix.fifo")
    os.mkfifo(fifo_path)
    fifo = os.open(fifo_path, os.O_RDWR)  # O_RDWR: no need for a reader to open it first
    os.writev(fifo, [prefix("fifo"), tok])
    KEEP.append(fifo)

    dgram_rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram_rx.bind(ABSTRACT_NAME)
    dgram_tx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram_tx.sendmsg([prefix("dgram"), tok], [], 0, ABSTRACT_NAME)
    seqpacket = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    seqpacket.bind(os.path.join(work, "mix.sock"))
    seqpacket.listen(4)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", UDP_PORT))
    ping = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    netlink = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    netlink.bind((0, 0))
    packet = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))  # ETH_P_ALL
    packet.bind(("lo", 0x0003))
    KEEP.extend([dgram_rx, dgram_tx, seqpacket, udp, ping, netlink, packet])

    efd = os.eventfd(42, os.EFD_NONBLOCK)
    ep = select.epoll()
    ep.register(conn.fileno(), select.EPOLLIN | select.EPOLLET)
    ep.register(fifo, select.EPOLLIN)
    ep.register(efd, select.EPOLLIN)
    KEEP.extend([efd, ep, arm_timerfd(CLOCK_MONOTONIC, 100, 5)])

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGUSR2})  # blk_sigset 0xa00
    sigmask = (ctypes.c_ulong * 16)()
    sigmask[0] = (1 << (signal.SIGUSR1 - 1)) | (1 << (signal.SIGUSR2 - 1))
    KEEP.append(c.check(signalfd(-1, ctypes.byref(sigmask), 0), "signalfd"))
    ino = c.check(inotify_init1(0), "inotify_init1")
    c.check(inotify_add_watch(ino, work.encode(), IN_CREATE | IN_DELETE), "inotify_add_watch")
    KEEP.append(ino)

    # memfd with a seal, mapped shared; the marker goes in through the fd, never via our memory.
    memfd = os.memfd_create("ckpt-memfd", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.ftruncate(memfd, 2 * mmap.PAGESIZE)
    os.pwritev(memfd, [prefix("memfd"), tok], 0)
    memfd_map = mmap.mmap(memfd, 2 * mmap.PAGESIZE, mmap.MAP_SHARED)
    memfd_map[mmap.PAGESIZE] = 1  # touch the second page too
    fcntl.fcntl(memfd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_GROW)
    KEEP.extend([memfd, memfd_map])

    # SysV IPC in the private ipc namespace: an attached segment, 3 semaphores, 2 messages.
    shmid = c.check(shmget(SHM_KEY, 10000, IPC_CREAT | 0o600), "shmget")
    addr = shmat(shmid, None, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "shmat")
    p = prefix("sysvShm")
    ctypes.memmove(addr, p, len(p))
    ctypes.memmove(addr + len(p), tok, len(tok))
    semid = c.check(semget(SEM_KEY, 3, IPC_CREAT | 0o600), "semget")
    for num, value in enumerate((5, 0, 9)):
        c.check(semctl(semid, num, SETVAL, value), "semctl")
    msqid = c.check(msgget(MSG_KEY, IPC_CREAT | 0o600), "msgget")
    for mtype, parts in ((42, [prefix("sysvMsg"), tok]), (7, [b"m2"])):
        size = sum(len(part) for part in parts)
        buf = ctypes.create_string_buffer(8 + size)
        ctypes.memmove(buf, mtype.to_bytes(8, "little"), 8)
        at = ctypes.addressof(buf) + 8
        for part in parts:
            ctypes.memmove(at, part, len(part))
            at += len(part)
        c.check(msgsnd(msqid, buf, size, 0), "msgsnd")
        ctypes.memset(buf, 0, len(buf))  # the message now lives in the queue only

    # Deleted open files: one small (inline ghost), one sparse >= 3 pages (chunked ghost).
    small_path = os.path.join(work, "ghost-small.txt")
    small = os.open(small_path, os.O_RDWR | os.O_CREAT, 0o644)
    os.writev(small, [prefix("ghostSmall"), tok, b"\n"])
    os.unlink(small_path)
    big_path = os.path.join(work, "ghost-big.bin")
    big = os.open(big_path, os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(big, GHOST_BIG_SIZE)
    os.pwritev(big, [prefix("ghostBigHead"), tok], 0)
    os.pwritev(big, [prefix("ghostBigTail"), tok], GHOST_TAIL_OFFSET)
    os.lseek(big, 100, os.SEEK_SET)
    os.unlink(big_path)
    KEEP.extend([small, big])

    flock_fd = os.open(os.path.join(work, "flock.txt"), os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(flock_fd, b"f" * 100)
    fcntl.flock(flock_fd, fcntl.LOCK_EX)
    KEEP.append(flock_fd)

    def on_signal(signum, frame):
        if signum == signal.SIGTERM:
            os._exit(0)

    for sig in (signal.SIGUSR1, signal.SIGALRM, signal.SIGTERM):
        signal.signal(sig, on_signal)
    signal.setitimer(signal.ITIMER_REAL, 1000, 500)
    sev = Sigevent(None, signal.SIGALRM, 0)  # SIGEV_SIGNAL
    timer = ctypes.c_void_p()
    c.check(timer_create(CLOCK_MONOTONIC, ctypes.byref(sev), ctypes.byref(timer)), "timer_create")
    spec = Itimerspec(Timespec(0, 0), Timespec(2000, 0))
    c.check(timer_settime(timer, 0, ctypes.byref(spec), None), "timer_settime")

    def worker(name: str) -> None:
        c.set_comm(name)
        c.sleep_forever()

    for name in ("mix-worker-1", "mix-worker-2"):
        threading.Thread(target=worker, args=(name,), daemon=True).start()

    secret = "".join((PREFIXES["leader"], c.token()))  # the leader's heap marker, after the forks
    KEEP.append(secret)

    c.wait_until(lambda: os.path.exists(os.path.join(work, "child-ready.json")), "mix-child")
    c.wait_zombie(zombie)
    c.wait_until(lambda: len(c.thread_ids()) == 3, "worker threads")
    tids = [t for t in c.thread_ids() if t != os.getpid()]
    c.write_json_atomically(
        os.path.join(work, "ready.json"),
        {
            "pids": {"leader": os.getpid(), "child": child, "zombie": zombie, "thread1": tids[0], "thread2": tids[1]},
            "markerPrefixes": PREFIXES,
        },
    )
    c.sleep_forever()


if __name__ == "__main__":
    main()
