"""The "secrets-edge" workload: credentials that are easy to miss, for `ckpt scan`; with MODE "clean"
the same program runs with the same shape of state and placeholders where the credentials were.

usage: secrets-edge.py WORKDIR planted|clean   (CKPT_TOKEN in the environment; see _common.py)

Every secret is derived from the run's token. The process re-executes itself once to put two in its
environment and one on its command line; then:
- environment: ID_TOKEN, a JWT whose header carries a certificate chain (x5c: thousands of
  characters), and MYSQL_PASSWORD, a weak password (a word and a digit);
- command line: --password=<a weak password>;
- memory: a URL whose query holds a weak password, written into a private anonymous mapping;
- ghost file: a deleted 16 KiB file written block by block from the end, each block synced, so that
  its blocks are apart on disk and CRIU saves it in chunks (one per extent) that follow each other;
  a GitHub token spans the boundary at 8192.
In clean mode: ID_TOKEN is no token, the passwords are placeholders (changeme, ${DB_PASSWORD}, ***),
and the ghost file holds filler only.
Writes WORKDIR/secrets.json: {name: {"value": str, ...where}} and WORKDIR/ready.json.
"""

import base64
import ctypes
import json
import mmap
import os
import sys

import _common as c

KEEP = []
PAGE = 4096
BLOCK = 4096
WORDS = ["summer", "dragon", "monkey", "shadow", "master", "qwerty", "batman", "tigers"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def weak(name: str) -> str:
    """A word and a digit, picked by the token: too simple for an entropy floor."""
    pick = c.derive(name, 2, b"0123456789")
    return WORDS[int(pick[0]) % len(WORDS)] + pick[1]


def jwt() -> str:
    chain = [c.derive(f"x5c-{i}", 1200, c.ALNUM + b"+/") for i in range(2)]
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "x5c": chain}).encode())
    payload = b64url(json.dumps({"sub": c.derive("sub", 12), "iat": 1700000000}).encode())
    return header + "." + payload + "." + c.derive("signature", 86, c.ALNUM + b"-_")


def secrets_for(mode: str) -> dict:
    if mode == "clean":
        return {
            "jwt": "not-a-token-" + c.token(),
            "env_password": "changeme",
            "cmdline_password": "$" + "{DB_PASSWORD}",
            "url_password": "***",
            "github": "no-token-here-" + c.token(),
        }
    return {
        "jwt": jwt(),
        "env_password": weak("env"),
        "cmdline_password": weak("cmdline"),
        "url_password": weak("url"),
        "github": "ghp_" + c.derive("github", 36),
    }


def main() -> None:
    work, mode = sys.argv[1], sys.argv[2]
    if mode not in ("planted", "clean"):
        sys.exit("secrets-edge.py: MODE is planted or clean")
    s = secrets_for(mode)
    key = "pass" + "word"
    if len(sys.argv) == 3:
        # Once more, with the environment variables and the argument in place (execve keeps the pid).
        env = dict(os.environ, ID_TOKEN=s["jwt"], MYSQL_PASSWORD=s["env_password"])
        os.execve(sys.executable, [sys.executable, "-B", sys.argv[0], work, mode, "--" + key + "=" + s["cmdline_password"]], env)

    c.setup_namespaces("ckpt-secrets")
    c.set_comm("secrets-edge")
    where = {
        "jwt": {"value": s["jwt"], "variable": "ID_TOKEN"},
        "env_password": {"value": s["env_password"], "variable": "MYSQL_PASSWORD"},
        "cmdline_password": {"value": s["cmdline_password"]},
    }

    private = mmap.mmap(-1, 2 * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    KEEP.append(private)
    url = "https://login.internal/session?user=app&" + key + "=" + s["url_password"] + "&next=/home"
    c.put(private, 100, url)
    # Where the match starts: at its key.
    offset = 100 + url.index(key + "=")
    where["url_password"] = {"value": s["url_password"], "vaddr": ctypes.addressof(ctypes.c_char.from_buffer(private)) + offset}

    # 16 KiB of filler with the token across the boundary of blocks 1 and 2, written from the last
    # block to the first, each synced: every block gets its own extent.
    body = bytearray((b"edge-filler\n" * (4 * BLOCK // 12 + 1))[: 4 * BLOCK])
    at = 2 * BLOCK - 20
    token_line = ("token: " + s["github"] + "\n").encode()
    body[at - 7 : at - 7 + len(token_line)] = token_line
    ghost_path = os.path.join(work, "session.cache")
    ghost = os.open(ghost_path, os.O_RDWR | os.O_CREAT, 0o600)
    for i in reversed(range(4)):
        os.pwrite(ghost, bytes(body[i * BLOCK : (i + 1) * BLOCK]), i * BLOCK)
        os.fsync(ghost)
    del body, token_line
    os.unlink(ghost_path)
    KEEP.append(ghost)
    where["ghost"] = {"value": s["github"], "path": ghost_path, "offset": at}

    c.write_json_atomically(os.path.join(work, "secrets.json"), where if mode == "planted" else {})
    c.write_json_atomically(os.path.join(work, "ready.json"), {"pids": {"leader": os.getpid()}, "markerPrefixes": {}})
    c.sleep_forever()


if __name__ == "__main__":
    main()
