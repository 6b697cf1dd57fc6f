"""The "secrets" workload: credentials planted in every place of a process that a checkpoint keeps,
for `ckpt scan`; with MODE "clean" the same program runs with the same shape of state and no secret.

usage: secrets.py WORKDIR planted|clean   (CKPT_TOKEN in the environment; see _common.py)

Every secret is derived from the run's token, so each run has its own. The process re-executes itself
once to put one in its environment (GITHUB_TOKEN) and one on its command line (--db-url=…); then:
- memory: an AWS access key ID written piece by piece into a private anonymous mapping;
- shared memory: a Slack token in a shared anonymous mapping (dumped as shmem);
- rootfs: WORKDIR/rootfs/etc/app/credentials holds an AWS secret access key (the harness packs
  WORKDIR/rootfs as the archive's rootfs-diff.tar, as an engine packs a container's changed files);
- ghost file: a PEM private key in a file deleted while still open;
- pipe: "Authorization: Bearer …" written and never read;
- unix socket: a GitLab token sent on a socketpair and never read.
Writes WORKDIR/secrets.json: {name: {"value": str, ...where}} and WORKDIR/ready.json.
"""

import base64
import ctypes
import hashlib
import mmap
import os
import socket
import sys

import _common as c

KEEP = []
PAGE = 4096


def secrets_for(mode: str) -> dict:
    if mode == "clean":
        return {
            "env": "plain-value-" + c.token(),
            "db_password": "",
            "aws_key_id": "NOTAKEY" + c.token().upper(),
            "slack": "shared-notes-" + c.token(),
            "aws_secret": "region = eu-west-1",
            "pem_body": "no key here, just text " + c.token(),
            "bearer": "Accept: text/plain " + c.token(),
            "gitlab": "hello over a socket " + c.token(),
        }
    return {
        "env": "ghp_" + c.derive("github", 36),
        "db_password": c.derive("db", 20),
        "aws_key_id": "AKIA" + c.derive("aws-id", 16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
        "slack": "xoxb-" + c.derive("slack-a", 11, b"0123456789") + "-" + c.derive("slack-b", 13, b"0123456789") + "-" + c.derive("slack-c", 24),
        "aws_secret": c.derive("aws-secret", 40, c.ALNUM + b"/+"),
        "pem_body": "\n".join(
            base64.b64encode(hashlib.sha512(f"{c.token()}/pem/{i}".encode()).digest()[:48]).decode() for i in range(12)
        ),
        "bearer": c.derive("bearer", 32) + "." + c.derive("bearer-2", 24),
        "gitlab": "glpat-" + c.derive("gitlab", 20),
    }


def main() -> None:
    work, mode = sys.argv[1], sys.argv[2]
    if mode not in ("planted", "clean"):
        sys.exit("secrets.py: MODE is planted or clean")
    s = secrets_for(mode)
    db_url = f"postgres://app:{s['db_password']}@db.internal:5432/app" if mode == "planted" else "postgres://db.internal:5432/app"
    if len(sys.argv) == 3:
        # Once more, with the environment variable and the argument in place (execve keeps the pid).
        env = dict(os.environ, GITHUB_TOKEN=s["env"])
        os.execve(sys.executable, [sys.executable, "-B", sys.argv[0], work, mode, "--db-url=" + db_url], env)

    c.setup_namespaces("ckpt-secrets")
    c.set_comm("secrets")
    where = {"env": {"value": s["env"]}, "cmdline": {"value": s["db_password"]}}

    private = mmap.mmap(-1, 2 * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    shared = mmap.mmap(-1, PAGE, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
    KEEP.extend([private, shared])
    c.put(private, 200, s["aws_key_id"])
    c.put(shared, 64, s["slack"])
    where["memory"] = {"value": s["aws_key_id"], "vaddr": ctypes.addressof(ctypes.c_char.from_buffer(private)) + 200}
    where["shared"] = {"value": s["slack"], "offset": 64}

    os.makedirs(os.path.join(work, "rootfs/etc/app"))
    head = "[default]\naws_access_key_id = AKIAEXAMPLE\n"
    with open(os.path.join(work, "rootfs/etc/app/credentials"), "w") as f:
        f.write(head + ("aws_secret_access_key = " + s["aws_secret"] if mode == "planted" else s["aws_secret"]) + "\n")
    where["rootfs"] = {"value": s["aws_secret"], "path": "/etc/app/credentials", "offset": len(head)}

    ghost_path = os.path.join(work, "session.key")
    ghost = os.open(ghost_path, os.O_RDWR | os.O_CREAT, 0o600)
    if mode == "planted":
        os.write(ghost, f"-----BEGIN RSA PRIVATE KEY-----\n{s['pem_body']}\n-----END RSA PRIVATE KEY-----\n".encode())
    else:
        os.write(ghost, s["pem_body"].encode())
    os.unlink(ghost_path)
    KEEP.append(ghost)
    where["ghost"] = {"value": s["pem_body"], "path": ghost_path, "offset": 0}

    pipe_r, pipe_w = os.pipe()
    os.write(pipe_w, f"GET / HTTP/1.1\r\nAuthorization: Bearer {s['bearer']}\r\n\r\n".encode() if mode == "planted" else s["bearer"].encode())
    KEEP.extend([pipe_r, pipe_w])
    where["pipe"] = {"value": s["bearer"], "inode": os.fstat(pipe_r).st_ino, "offset": len("GET / HTTP/1.1\r\nAuthorization: ")}

    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    left.send(f"token={s['gitlab']}\n".encode())
    KEEP.extend([left, right])
    where["socket"] = {"value": s["gitlab"], "inode": os.fstat(right.fileno()).st_ino, "offset": len("token=")}

    c.write_json_atomically(os.path.join(work, "secrets.json"), where if mode == "planted" else {})
    c.write_json_atomically(os.path.join(work, "ready.json"), {"pids": {"leader": os.getpid()}, "markerPrefixes": {}})
    c.sleep_forever()


if __name__ == "__main__":
    main()
