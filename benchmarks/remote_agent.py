"""The device side of ``edgekit bench --device``: runs the measurement workers there.

Copied to the device with the edgekit runtime and the workers (standard library only
here), and started over SSH as ``python -m edgekit.benchmarks.remote_agent JOBS.json``.
It plays the part the bench command plays locally: for each job it takes ``time.time()``
and spawns a fresh interpreter on the worker module with ``--t0`` (so cold start is timed on
the device's own clock), and prints one JSON line per job: exit status, the worker's
stdout, the tail of its stderr, and the ``--save`` file (feeds and outputs) base64-encoded
so they travel back in the same stream.

When the SSH session ends early (Ctrl-C on the laptop, a dropped link), stdin reaches EOF
and the running worker is killed: nothing keeps measuring on a device nobody listens to.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time

STDERR_TAIL_CHARS = 4000
MAX_SAVED_BYTES = 64 << 20  # larger feed/output files stay behind (no output comparison for them)


class Jobs:
    def __init__(self) -> None:
        self.current: subprocess.Popen | None = None
        self.lock = threading.Lock()
        self.abandoned = False

    def watch_stdin(self) -> None:
        """Block on stdin; EOF means the SSH session is gone: kill the worker and leave.

        A raw os.read, not sys.stdin: a daemon thread blocked inside a buffered reader aborts
        the interpreter's shutdown ("could not acquire lock for <stdin>")."""
        try:
            while os.read(sys.stdin.fileno(), 1 << 16):
                pass
        except OSError:
            pass
        with self.lock:
            self.abandoned = True
            if self.current is not None and self.current.poll() is None:
                self.current.kill()
        os._exit(130)

    def run(self, job: dict, timeout_s: float) -> dict:
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        t0 = time.time()
        command = [sys.executable, "-m", job["module"], *job["args"], "--t0", repr(t0)]
        with self.lock:
            if self.abandoned:
                os._exit(130)
            self.current = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, env=env)
        timed_out = False
        try:
            stdout, stderr = self.current.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.current.kill()
            stdout, stderr = self.current.communicate()
            timed_out = True
        result = {"name": job["name"], "returncode": self.current.returncode, "timed_out": timed_out,
                  "stdout": stdout.decode(errors="replace"), "stderr_tail": stderr.decode(errors="replace")[-STDERR_TAIL_CHARS:],
                  "saved": None}
        save = job.get("save")
        if save and os.path.isfile(save) and os.path.getsize(save) <= MAX_SAVED_BYTES:
            with open(save, "rb") as handle:
                result["saved"] = base64.b64encode(handle.read()).decode("ascii")
        return result


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0], encoding="utf-8") as handle:
        spec = json.load(handle)
    import edgekit  # the copy this agent runs from: the workers inherit the same PYTHONPATH

    jobs = Jobs()
    threading.Thread(target=jobs.watch_stdin, daemon=True).start()
    out = sys.stdout
    out.write(json.dumps({"agent": {"edgekit": os.path.dirname(edgekit.__file__), "python": sys.executable}}) + "\n")
    out.flush()
    for job in spec["jobs"]:
        out.write(json.dumps(jobs.run(job, spec["timeout_s"])) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
