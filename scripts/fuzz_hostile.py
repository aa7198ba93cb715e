"""The robustness goals of issue 19 at full size: 1,000 mutated GGUF files and 1,000 hostile numeric calls,
each in a worker subprocess under an address-space cap; prints the counts of every outcome (ok, error, and
the failures: panic, bad-error, crash, hang), the failures and the peak memory of rejecting large files.
hostile files.

    .venv/bin/python scripts/fuzz_hostile.py [--gguf 1000] [--numeric 1000] [--as-limit-gb 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import gguf_mutate as gm
from hostile_numeric import sample_calls
from hostile_runner import peak_rss_rejecting, run_cases
from test_gguf_fuzz import mutated_files
from tiny_gguf import write_tiny_model


def report(name: str, codes: list[str], cap: int) -> int:
    t0 = time.perf_counter()
    outcomes = run_cases(codes, as_limit=cap, case_timeout=30)
    counts = Counter(o.status for o in outcomes)
    print(f"{name}: {len(codes)} cases in {time.perf_counter() - t0:.1f} s: {dict(sorted(counts.items()))}")
    for o in outcomes:
        if o.failed:
            print(f"  FAIL {o.status}: {o.code[:160]} -> {o.detail[:300]}")
    return sum(o.failed for o in outcomes)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", type=int, default=1000)
    ap.add_argument("--numeric", type=int, default=1000)
    ap.add_argument("--as-limit-gb", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    cap = int(a.as_limit_gb * 2**30)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        if a.gguf:
            files = mutated_files(d, a.gguf, a.seed)
            failed += report("mutated GGUF files", [f"load_and_run({str(p)!r})" for p, _ in files], cap)
        if a.numeric:
            failed += report("hostile numeric calls", sample_calls(a.numeric, a.seed), cap)
        seed = write_tiny_model(d / "seed.gguf", "llama").read_bytes()
        bad = (gm.BOOL, b"\x05")
        for label, payload in (
            ("64 MB uint8 array", gm.array(gm.UINT8, bytes(64_000_000))),
            ("6.4 M-string array", gm.array(gm.STRING, ["ab"] * 6_400_000)),
        ):
            g = gm.parse(seed)
            g.kv["tokenizer.ggml.tokens"] = (gm.ARRAY, payload)
            g.kv["zz.bad"] = bad
            p = d / "big.gguf"
            p.write_bytes(g.to_bytes())
            for call in ("read_gguf", "Model.load"):
                grew, size, what = peak_rss_rejecting(p, call, cap)
                print(
                    f"rejecting a {size / 1e6:.1f} MB file ({label}) with {call}: "
                    f"peak RSS +{grew / 1e6:.1f} MB ({grew / size:.2f} x the file): {what[:80]}"
                )
    print("FAILURES:", failed)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
