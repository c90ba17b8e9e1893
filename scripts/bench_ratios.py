#!/usr/bin/env python3
"""Ratios of the product against its peers, from one side-by-side run of ../shared/bench.

Usage: scripts/bench_ratios.py SUMMARY_TSV [--results RESULTS.md] [--write BENCHMARKS.md]

Reads the results_summary.tsv that ../shared/bench/run_bench.py writes (one row per input x
op x peer: median wall ms, max peak RSS MiB, median CPU ms, output bytes, SSIM, flags) and
prints, per input x op, the product's ratios against each target of issue 7:

  wall      product median wall / sharp median wall          target <= 0.5
  rss       product peak RSS / the lowest peer peak RSS       target < 1 (and <= 128 MiB)
  size      product output bytes / the smallest peer output   target <= 1.1
            (peers whose output kept the input's format and WebP lossless-ness only)
  ssim      the product's SSIM against the Pillow reference   target >= 0.99 for PNG and
            lossless WebP, >= 0.98 for JPEG and lossy WebP; the best peer's SSIM beside it

and how many cases meet each target. --results embeds the harness's own report of the same
run above the ratios (its first line, the environment and versions, and the side-by-side
wall time / peak RSS table). With --write, all of it replaces the part of the file between
<!-- peers:start --> and <!-- peers:end -->. Standard library only.
"""
from __future__ import annotations

import csv
import math
import sys
from collections import defaultdict
from pathlib import Path

PRODUCT = "product"
# Flags of the harness that mean a peer's output is not comparable (wrong format, metadata
# left, WebP lossless-ness changed, failed runs): such a peer does not set the size bar.
NOT_COMPARABLE = ("FAILED", "NO-OUTPUT", "UNREADABLE", "FORMAT:", "META:", "WEBP-LOSSLESS-MISMATCH", "DIMS!=")


def fnum(v: str) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def lossy_kind(name: str) -> bool:
    """JPEG inputs and lossy WebP inputs are judged against the lossy SSIM floor."""
    n = name.lower()
    return n.endswith((".jpg", ".jpeg")) or (n.endswith(".webp") and "lossless" not in n)


def geomean(xs: list[float]) -> float:
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def build(rows: list[dict]) -> str:
    cases: dict[tuple[str, str], dict[str, dict]] = defaultdict(dict)
    for r in rows:
        cases[(r["input"], r["op"])][r["peer"]] = r
    peers = sorted({r["peer"] for r in rows} - {PRODUCT})
    out = []
    out.append("| input | op | ms | vs sharp | vs fastest peer | MiB | vs leanest peer | KiB | vs smallest peer | SSIM (best peer) | flags |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    met = defaultdict(int)
    total = 0
    ratios = defaultdict(list)
    for (inp, op), by in sorted(cases.items()):
        me = by.get(PRODUCT)
        if not me:
            continue
        total += 1
        ms = fnum(me["median_ms"])
        rss = fnum(me["max_rss_mb"])
        size = fnum(me["out_bytes"])
        ssim = fnum(me["ssim"])
        sharp = fnum(by.get("sharp", {}).get("median_ms"))
        others = [by[p] for p in peers if p in by]
        fastest = min((fnum(o["median_ms"]) for o in others if fnum(o["median_ms"])), default=None)
        leanest = min((fnum(o["max_rss_mb"]) for o in others if fnum(o["max_rss_mb"])), default=None)
        comparable = [o for o in others if not any(f.startswith(NOT_COMPARABLE) for f in o["flags"].split())]
        smallest = min((fnum(o["out_bytes"]) for o in comparable if fnum(o["out_bytes"])), default=None)
        best_ssim = max((fnum(o["ssim"]) for o in others if fnum(o["ssim"]) is not None), default=None)
        r_wall = ms / sharp if ms and sharp else None
        r_fast = ms / fastest if ms and fastest else None
        r_rss = rss / leanest if rss and leanest else None
        r_size = size / smallest if size and smallest else None
        floor = 0.98 if lossy_kind(inp) else 0.99
        if r_wall is not None:
            ratios["wall vs sharp"].append(r_wall)
            met["wall <= 0.5x sharp"] += r_wall <= 0.5
        if r_fast is not None:
            ratios["wall vs fastest peer"].append(r_fast)
        if r_rss is not None:
            ratios["peak RSS vs leanest peer"].append(r_rss)
            met["peak RSS below every peer"] += r_rss < 1.0
        if rss is not None:
            met["peak RSS <= 128 MiB"] += rss <= 128
        if r_size is not None:
            ratios["output size vs smallest peer"].append(r_size)
            met["output <= 1.1x smallest peer"] += r_size <= 1.1
        if ssim is not None:
            met[f"SSIM at its floor (0.99 lossless / 0.98 lossy)"] += ssim >= floor
            if best_ssim is not None:
                met["SSIM >= every peer's"] += ssim >= best_ssim - 0.0005
        f = lambda v, d=2: "-" if v is None else f"{v:.{d}f}"
        out.append(
            f"| {inp} | {op} | {f(ms, 0)} | {f(r_wall)}x | {f(r_fast)}x | {f(rss, 1)} | {f(r_rss)}x | "
            f"{f(size / 1024 if size else None, 0)} | {f(r_size)}x | {f(ssim, 3)} ({f(best_ssim, 3)}) | {me['flags']} |"
        )
    out.append("")
    out.append(f"Targets met, of {total} input x op cases:")
    out.append("")
    out.append("| target | cases met |")
    out.append("|---|---:|")
    for k in ["wall <= 0.5x sharp", "peak RSS <= 128 MiB", "peak RSS below every peer",
              "output <= 1.1x smallest peer", "SSIM at its floor (0.99 lossless / 0.98 lossy)", "SSIM >= every peer's"]:
        out.append(f"| {k} | {met[k]} / {total} |")
    out.append("")
    out.append("Geometric means of the product's ratios over all cases (lower is better):")
    out.append("")
    out.append("| ratio | geometric mean | worst |")
    out.append("|---|---:|---:|")
    for k, xs in ratios.items():
        out.append(f"| {k} | {geomean(xs):.2f}x | {max(xs):.2f}x |")
    return "\n".join(out)


def harness_report(results: Path) -> str:
    """The harness's first lines, environment and side-by-side table, from its RESULTS.md."""
    text = results.read_text()
    lines = text.splitlines()
    generated = next((l for l in lines if l.startswith("Generated ")), "")
    start = text.find("## Environment")
    end = text.find("## CPU time")
    body = text[start:end].strip() if start >= 0 and end > start else ""
    # One level down: these sections sit under a heading of BENCHMARKS.md.
    body = "\n".join("#" + l if l.startswith("## ") else l for l in body.splitlines())
    return f"{generated}\n\n{body}\n"


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    summary = Path(argv[0])
    opts = dict(zip(argv[1::2], argv[2::2]))
    with summary.open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    if not any(r["peer"] == PRODUCT for r in rows):
        print(f"bench_ratios.py: no '{PRODUCT}' rows in {summary} (run the harness with --product)", file=sys.stderr)
        return 1
    table = build(rows)
    if "--results" in opts:
        table = harness_report(Path(opts["--results"])) + "\n### The product's ratios, per input x op\n\n" + table
    print(table)
    if "--write" in opts:
        doc = Path(opts["--write"])
        text = doc.read_text()
        start, end = "<!-- peers:start -->", "<!-- peers:end -->"
        if start not in text or end not in text:
            text = text.rstrip("\n") + f"\n\n{start}\n{end}\n"
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        doc.write_text(f"{head}{start}\n{table}\n{end}{tail}")
        print(f"bench_ratios.py: wrote {doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
