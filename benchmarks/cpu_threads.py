"""Batch-1 latency of a 4096x4096 bf16 OrthoLinear (1 % Ortho, alpha 1) with and without one competing busy
process, phases alternated; the goal of the CPU backend's thread policy: busy latency <= 3x the latency
without the competitor. Writes results/cpu/threads.csv.

    python benchmarks/cpu_threads.py [--rounds 3] [--seconds 0.5] [--batch 1]

Each configuration runs back-to-back calls for `--seconds` per phase and round; the table gives medians per
call. The competitor is `python -c "while True: pass"` in a session of its own, given the same autogroup
weight as this one. 'others' is how many CPUs other processes (the competitor included) used during the phase."""
import argparse, csv, os, statistics, subprocess, sys, time
from pathlib import Path
import torch
from torch import nn
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_timing import Foreign, boost
from libortho_nb.layers import OrthoLinear, register_backend, ortho_linear_reference
from libortho_nb.kernels.cpu import CpuBackend, CpuSettings, base_layout


# a busy loop in a session of its own, with the same scheduler weight as ours (so --boost does not shield us from it)
COMPETITOR = "open('/proc/self/autogroup', 'w').write('%d')\nwhile True: pass"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=0.5)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--out", default="results/cpu")
    ap.add_argument("--boost", action="store_true",
                    help="raise this session's scheduler weight first (Linux, root), so other sessions' jobs yield")
    a = ap.parse_args()
    boosted = boost() if a.boost else False
    if a.boost: print(f"autogroup boost: {boosted}")
    torch.manual_seed(0)
    layer = OrthoLinear.from_linear(nn.Linear(4096, 4096, bias=False).bfloat16(), sparsity=0.01)
    x = torch.randn(a.batch, 4096, dtype=torch.bfloat16)
    lay = base_layout(layer.base)
    mm = torch.ops.aten._weight_int4pack_mm_for_cpu
    backends = {"auto": CpuBackend(), "fixed": CpuBackend(CpuSettings(threads=None))}
    wanted = max(2, torch.get_num_threads())

    def on(t, f):
        def g():
            torch.set_num_threads(t)
            return f()
        return g

    def through(be):
        def g():
            register_backend("cpu", be)
            return layer(x)
        return g
    configs = {f"INT4 kernel alone, {wanted} threads": on(wanted, lambda: mm(x, lay.packed, lay.kgs, lay.sz)),
               "INT4 kernel alone, 1 thread": on(1, lambda: mm(x, lay.packed, lay.kgs, lay.sz)),
               f"reference path, {wanted} threads": on(wanted, lambda: ortho_linear_reference(
                   x, layer.base, layer.ortho, 1.0)),
               f"backend, fixed {wanted} threads": on(wanted, through(backends["fixed"])),
               "backend, fixed 1 thread": on(1, through(backends["fixed"])),
               f"backend, threads='auto' (default; torch asks {wanted})": on(wanted, through(backends["auto"]))}
    phases = ("no competitor", "one busy process")
    with open("/proc/self/autogroup") as f: nice = int(f.read().split()[-1])   # the competitor gets our weight
    res = {(c, p): [] for c in configs for p in phases}
    others = {p: [] for p in phases}
    with torch.inference_mode():
        for f in configs.values(): f(); f()
        for r in range(a.rounds):
            for p in phases:
                comp = None
                if p != phases[0]:
                    comp = subprocess.Popen([sys.executable, "-c", COMPETITOR % nice], start_new_session=True)
                    time.sleep(0.3)
                try:
                    for c, f in configs.items():
                        with Foreign() as fg:
                            ts, end = [], time.perf_counter() + a.seconds
                            while time.perf_counter() < end:
                                t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
                        res[c, p].append(statistics.median(ts))
                        others[p].append(fg.cpus)
                finally:
                    if comp is not None: comp.kill(); comp.wait()
    register_backend("cpu", None)
    rows = []
    print(f"4096x4096 bf16, 1 % Ortho, batch {a.batch}; {os.cpu_count()} CPUs; others used "
          + ", ".join(f"{p}: {statistics.mean(v):.2f} CPUs" for p, v in others.items()))
    print(f"{'configuration':58s} {'no competitor ms':>17s} {'busy ms':>9s} {'busy / none':>11s}")
    for c in configs:
        m0, m1 = (statistics.median(res[c, p]) * 1e3 for p in phases)
        rows.append(dict(config=c, batch=a.batch, idle_ms=round(m0, 4), busy_ms=round(m1, 4),
                         busy_over_idle=round(m1 / m0, 2),
                         others_idle=round(statistics.mean(others[phases[0]]), 2),
                         others_busy=round(statistics.mean(others[phases[1]]), 2)))
        print(f"{c:58s} {m0:17.3f} {m1:9.3f} {m1 / m0:11.2f}")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "threads.csv" if a.batch == 1 else f"threads_batch{a.batch}.csv"
    with open(out / name, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {out / name}; goal: the default ('auto') <= 3x")


if __name__ == "__main__":
    main()
