#!/usr/bin/env python3
"""Tables of gpu_check.sh's training runs, from each run's metrics.jsonl: speed and peak memory,
the CUDA runs' losses against the CPU run's step by step, and the cephalo-tiny recipe's two stages
timed at the measured rates.

    gpu_train_summary.py WORK_DIR
"""
import json
import pathlib
import sys

work = pathlib.Path(sys.argv[1])


def train_lines(run):
    path = work / run / "metrics.jsonl"
    if not path.exists():
        return []
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["type"] == "train"]


def steady(lines, what="samples", skip=2):
    """samples (or tokens) a second over the steps after the first `skip` (those encode images
    and warm caches up)"""
    rest = lines[skip:] or lines
    return sum(r[what] for r in rest) / sum(r["seconds"] for r in rest)


runs = [p.name for p in sorted(work.iterdir()) if (p / "metrics.jsonl").exists()]
print("| run | steps | samples/s (after step 2) | tokens/s | first loss | last loss | peak GiB |")
print("|---|---:|---:|---:|---:|---:|---:|")
for run in runs:
    lines = train_lines(run)
    if not lines:
        continue
    rate = steady(lines)
    tokens = steady(lines, "tokens")
    print(f"| {run} | {len(lines)} | {rate:.1f} | {tokens:.0f} | {lines[0]['loss']:.4f} | "
          f"{lines[-1]['loss']:.4f} | {max(r.get('peak_gib', 0) for r in lines):.2f} |")

cpu = train_lines("cpu")
if cpu:
    print()
    print("| against the CPU run | max relative loss difference | at step 1 | at the last step |")
    print("|---|---:|---:|---:|")
    for run in ("cuda", "cuda-bf16"):
        other = train_lines(run)
        if len(other) != len(cpu):
            continue
        diffs = [abs(a["loss"] - b["loss"]) / abs(a["loss"]) for a, b in zip(cpu, other)]
        print(f"| {run} | {max(diffs):.2e} | {diffs[0]:.2e} | {diffs[-1]:.2e} |")

stage1, stage2 = train_lines("stage1"), train_lines("stage2")
if stage1 and stage2:
    minutes = (2800 * 16 / steady(stage1) + 2000 * 16 / steady(stage2)) / 60
    print()
    print(f"cephalo-tiny's 2800 + 2000 steps of 16 at these rates: {minutes:.1f} min of training")
