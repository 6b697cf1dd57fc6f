"""The "zombie" workload: zmb-parent with one running child (zmb-child) and one exited, never reaped
child (zmb-zombie, task_state 2 in the dump). Nothing else.

usage: zombie.py WORKDIR   (CKPT_TOKEN in the environment; see _common.py)
Writes WORKDIR/ready.json: {"pids": {...}, "markerPrefixes": {name: prefix}} when the zombie is one.
"""

import os
import sys
import traceback

import _common as c

PREFIXES = {
    "parent": "CKPT_ZMB_PARENT_",  # parent's heap, built after the forks
    "child": "CKPT_ZMB_CHILD_",  # running child's heap
}
KEEP = []


def main() -> None:
    work = sys.argv[1]
    c.setup_namespaces("ckpt-zombie")
    c.set_comm("zmb-parent")

    child = os.fork()
    if child == 0:
        try:
            c.set_comm("zmb-child")
            c.die_with_parent()
            KEEP.append("".join((PREFIXES["child"], c.token())))
            c.write_json_atomically(os.path.join(work, "child-ready.json"), {"pid": os.getpid()})
            c.sleep_forever()
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(1)

    zombie = os.fork()
    if zombie == 0:
        c.set_comm("zmb-zombie")
        os._exit(3)  # never waited for

    KEEP.append("".join((PREFIXES["parent"], c.token())))
    c.wait_until(lambda: os.path.exists(os.path.join(work, "child-ready.json")), "zmb-child")
    c.wait_zombie(zombie)
    c.write_json_atomically(
        os.path.join(work, "ready.json"),
        {"pids": {"leader": os.getpid(), "child": child, "zombie": zombie}, "markerPrefixes": PREFIXES},
    )
    c.sleep_forever()


if __name__ == "__main__":
    main()
