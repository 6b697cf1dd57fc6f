"""Runs many jobs of the real crit (crit/__main__.py's own functions) in one Python process, so a
conformance test does not pay crit's interpreter start-up once per image. Output is what the crit
command would write: decode -o FILE (no trailing newline), info and x on stdout.

usage: crit-batch.py JOBS.json   where JOBS is a list of
  {"op": "decode", "in": IMG, "out": FILE, "pretty": bool, "nopl": bool}
  {"op": "info", "in": IMG, "out": FILE}
  {"op": "x", "dir": DIR, "what": "ps|fds|mems|rss", "out": FILE}
A failing job writes its error text to OUT + ".err" instead.
"""
import contextlib
import json
import sys
import traceback

import crit.__main__ as crit


def reset_caches():
    # crit's explorers cache files.img and file names in module globals.
    crit.files_img = None
    crit.files_cache.clear()
    for ft in crit.file_types.values():
        ft["img"] = None


def run(job):
    op = job["op"]
    if op == "decode":
        crit.decode({"in": job["in"], "out": job["out"], "pretty": job.get("pretty", False), "nopl": job.get("nopl", False)})
        return
    with open(job["out"], "w") as f, contextlib.redirect_stdout(f):
        if op == "info":
            crit.info({"in": job["in"]})
        elif op == "show":
            # show writes to stdout with a trailing newline
            crit.decode({"in": job["in"], "out": None, "pretty": True, "nopl": job.get("nopl", False)})
        elif op == "x":
            reset_caches()
            crit.explore({"dir": job["dir"], "what": job["what"]})
        else:
            raise ValueError("unknown op " + op)


def main():
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    for job in jobs:
        try:
            run(job)
        except BaseException as exc:  # SystemExit included: crit exits on bad magic
            with open(job["out"] + ".err", "w") as f:
                f.write("".join(traceback.format_exception_only(type(exc), exc)).strip() or repr(exc))


main()
