"""Runs hostile cases (GGUF files to load, Python calls to make) in worker subprocesses under an address-space
cap (RLIMIT_AS), so that an abort, a panic reaching Python or a hang is caught and blamed on its case instead
of ending the test run. A worker takes a batch of cases and reports each on stdout; when it dies or stalls,
the case it was running is recorded as a crash or a hang and a fresh worker takes the rest."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# Exceptions a hostile input may raise: the package's errors and Python's usual ones for bad input.
ALLOWED = (
    "InvalidInputError",
    "ValueError",
    "TypeError",
    "MemoryError",
    "OverflowError",
    "OSError",
    "FileNotFoundError",
    "IsADirectoryError",
    "KeyboardInterrupt",
)

_WORKER = r"""
import json, resource, sys, time, traceback
cap = int(sys.argv[1])
import numpy as np
import thermoconsensus as tc
from thermoconsensus import anneal, info, llm
if cap:
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
ns = {"np": np, "tc": tc, "anneal": anneal, "info": info, "llm": llm}

def load_and_run(path):
    header = llm.read_gguf(path)
    m = llm.Model.load(path)
    n = int(m.config["n_vocab"])
    out = m.greedy([1 % n, 2 % n, 3 % n], max_tokens=3, stop_at_eos=False)
    return f"loaded ({len(header.tensors)} tensors), greedy {out}"

ns["load_and_run"] = load_and_run
for line in sys.stdin:
    case = json.loads(line)
    print(json.dumps({"start": case["id"]}), flush=True)
    t0 = time.perf_counter()
    try:
        res = eval(case["code"], ns)
        out = {"id": case["id"], "ok": True, "detail": repr(res)[:200]}
    except BaseException as e:
        out = {"id": case["id"], "ok": False, "type": type(e).__name__, "detail": str(e)[:300]}
    out["seconds"] = time.perf_counter() - t0
    print(json.dumps(out), flush=True)
"""


@dataclass
class Outcome:
    """What one case did: "ok", "error" (an allowed exception), or a failure: "panic", "bad-error", "crash",
    "hang"."""

    id: int
    code: str
    status: str
    detail: str
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status not in ("ok", "error")


def _feed(pipe: IO[str], text: str) -> None:
    try:
        pipe.write(text)
        pipe.close()
    except (BrokenPipeError, OSError):  # the worker died; its cases are re-queued
        pass


def _classify(rec: dict[str, object]) -> str:
    if rec["ok"]:
        return "ok"
    detail, kind = str(rec["detail"]), str(rec["type"])
    if kind == "PanicException" or "internal error" in detail or "panicked" in detail:
        return "panic"
    return "error" if kind in ALLOWED else "bad-error"


def run_cases(
    codes: list[str], *, as_limit: int = 2 << 30, case_timeout: float = 20.0, cwd: Path | None = None
) -> list[Outcome]:
    """Evaluates each expression of `codes` in a worker (numpy as np, thermoconsensus.anneal/info/llm, and
    load_and_run(path) in scope) under an address-space cap of `as_limit` bytes; a case that runs past
    `case_timeout` seconds is a hang."""
    pending = list(enumerate(codes))
    outcomes: dict[int, Outcome] = {}
    while pending:
        # stderr to a file: a chatty worker must not fill a pipe and stall.
        err_file = tempfile.TemporaryFile(mode="w+")
        proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(as_limit)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err_file,
            text=True,
            cwd=cwd,
            env={**os.environ, "PYTHONFAULTHANDLER": "1", "RUST_BACKTRACE": "0"},
        )
        assert proc.stdin is not None and proc.stdout is not None
        feed = "".join(json.dumps({"id": i, "code": code}) + "\n" for i, code in pending)
        # Fed from a thread: a large batch must not fill the stdin pipe while the answers fill stdout.
        feeder = threading.Thread(target=_feed, args=(proc.stdin, feed), daemon=True)
        feeder.start()
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        running: int | None = None
        deadline = time.monotonic() + 120.0  # the first case also waits for the import
        buf = ""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill()
                if running is not None:
                    outcomes[running] = Outcome(
                        running, codes[running], "hang", f"no answer in {case_timeout} s"
                    )
                break
            if not sel.select(timeout=left):
                continue
            chunk = proc.stdout.readline()
            if not chunk:  # the worker exited
                break
            buf = chunk.strip()
            if not buf:
                continue
            rec = json.loads(buf)
            if "start" in rec:
                running = int(rec["start"])
                deadline = time.monotonic() + case_timeout
                continue
            i = int(rec["id"])
            outcomes[i] = Outcome(
                i, codes[i], _classify(rec), f"{rec.get('type', '')}: {rec['detail']}", float(rec["seconds"])
            )
            running = None
        rc = proc.wait()
        feeder.join()
        sel.close()
        proc.stdout.close()
        err_file.seek(0)
        stderr = err_file.read()
        err_file.close()
        if running is not None and running not in outcomes:
            outcomes[running] = Outcome(
                running, codes[running], "crash", f"worker exited {rc}: {stderr[-500:]}"
            )
        if not any(i not in outcomes for i, _ in pending):
            break
        # A worker that ended without naming a case (it failed to start) must not loop forever.
        if running is None and all(i not in outcomes for i, _ in pending):
            raise RuntimeError(f"hostile worker failed to start (exit {rc}): {stderr[-2000:]}")
        pending = [(i, c) for i, c in pending if i not in outcomes]
    return [outcomes[i] for i in range(len(codes))]


def peak_rss_rejecting(path: Path, call: str = "Model.load", as_limit: int = 2 << 30) -> tuple[int, int, str]:
    """(peak RSS growth in bytes, file size, outcome) of one subprocess that opens `path` with `call`
    ("Model.load" or "read_gguf"): the peak RSS during the call (Linux's VmHWM, reset just before it through
    /proc/self/clear_refs) less the RSS just before it. Mapped file pages that were read count."""
    code = r"""
import os, resource, sys
from thermoconsensus import llm
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[3]), int(sys.argv[3])))
f = llm.Model.load if sys.argv[2] == "Model.load" else llm.read_gguf
def status(key):
    with open("/proc/self/status") as s:
        return next(int(l.split()[1]) * 1024 for l in s if l.startswith(key))
with open("/proc/self/clear_refs", "w") as c:
    c.write("5")
before = status("VmRSS:")
what = "ok"
try:
    f(sys.argv[1])
except Exception as e:
    what = type(e).__name__ + ": " + str(e)[:200]
print(max(0, status("VmHWM:") - before))
print(what)
"""
    r = subprocess.run(
        [sys.executable, "-c", code, str(path), call, str(as_limit)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if r.returncode != 0:
        return -1, path.stat().st_size, f"exit {r.returncode}: {r.stderr[-500:]}"
    grow, what = r.stdout.strip().split("\n", 1)
    return int(grow), path.stat().st_size, what
