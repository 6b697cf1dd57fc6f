"""Parent of a test workload: starts it in a session of its own and reaps its whole process tree.

usage: reaper.py LOGFILE -- PROGRAM [ARG...]

Why a reaper: killed workload processes are reparented to the machine's PID 1, which on these
machines may leave them as unreaped zombies for a while (docs/real-stack.md). As a child
subreaper this process inherits every orphan of the tree and waits for all of them, and the test
process only has to wait for this one.

Protocol on stdout (one line each): "pid N" once the workload is forked, "exit CODE" when its
leader ends. The tree is killed (SIGKILL to its process group) when stdin reaches EOF (the test
closed it, or died), on SIGTERM, or when the leader ends by itself. Exits 0 once nothing is left.
"""

import ctypes
import os
import signal
import sys
import threading

PR_SET_CHILD_SUBREAPER = 36


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit("usage: reaper.py LOGFILE -- PROGRAM [ARG...]")
    log, argv = sys.argv[1], sys.argv[3:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("reaper: prctl(PR_SET_CHILD_SUBREAPER) failed")

    pid = os.fork()
    if pid == 0:
        try:
            # Session leader, so criu needs no --shell-job; stdio on files, so no tty or pipe
            # of the test process leaks into the dumped tree.
            os.setsid()
            null = os.open("/dev/null", os.O_RDONLY)
            out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.closerange(3, 4096)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)

    leader_reaped = False

    def kill_tree(*_: object) -> None:
        # The leader leads the process group; kill(pid) as well in case setsid() has not run yet,
        # but never once the leader is reaped (its pid could be reused). The group id stays
        # reserved while any member, all of which end up as our children, is unreaped.
        kills = [os.killpg] if leader_reaped else [os.killpg, os.kill]
        for kill in kills:
            try:
                kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def watch_stdin() -> None:
        # Signals must reach the main thread (blocked in waitpid), not this one.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        while sys.stdin.buffer.read1(4096):
            pass
        kill_tree()

    signal.signal(signal.SIGTERM, kill_tree)
    print(f"pid {pid}", flush=True)
    threading.Thread(target=watch_stdin, daemon=True).start()

    while True:
        try:
            done, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if done == pid:
            leader_reaped = True
            print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)
            kill_tree()
    os._exit(0)


if __name__ == "__main__":
    main()
