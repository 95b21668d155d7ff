"""OrthoLinear against nn.Linear on a 4096x4096 layer with a 1% Ortho stream, measured side by side in one run.

Prints forward time ratios (median of interleaved repeats, so machine noise hits both alike) at batch 1 and 64, and storage in
bits per parameter. Not a timed test: nothing here gates CI on an absolute time.

    python benchmarks/ortholinear.py [--size 4096] [--sparsity 0.01] [--repeats 15] [--threads N]
"""
import argparse, statistics, time
import torch
from torch import nn
from libortho_nb.layers import OrthoLinear

def seconds(fn):
    t = time.perf_counter(); fn(); return time.perf_counter() - t

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--size', type=int, default=4096); ap.add_argument('--sparsity', type=float, default=0.01)
    ap.add_argument('--repeats', type=int, default=15); ap.add_argument('--threads', type=int, default=torch.get_num_threads())
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    n = a.size
    print(f"torch {torch.__version__}, {a.threads} threads, layer {n}x{n}, Ortho {a.sparsity:.2%}, median of {a.repeats} interleaved repeats")
    print("\nstorage (both streams, bias excluded):")
    for dt in (torch.float32, torch.float16, torch.bfloat16):
        lin = nn.Linear(n, n, dtype=dt)
        for mode in ('residual', 'outlier'):
            o = OrthoLinear.from_linear(lin, sparsity=a.sparsity, mode=mode)
            print(f"  {str(dt).split('.')[-1]:>8} {mode:>8}: {o.bits_per_param:.3f} bits/param (nn.Linear: {torch.finfo(dt).bits})")
    lin = nn.Linear(n, n)
    layer = OrthoLinear.from_linear(lin, sparsity=a.sparsity, mode='outlier')
    print("\nforward time, float32 (ratio to nn.Linear float32 measured in the same loop):")
    print(f"  {'batch':>5} {'nn.Linear ms':>13} {'alpha=0 ms':>11} {'ratio':>6} {'alpha=1 ms':>11} {'ratio':>6}")
    with torch.inference_mode():
        for batch in (1, 64):
            x = torch.randn(batch, n)
            def a0(): layer.alpha = 0.0; layer(x)
            def a1(): layer.alpha = 1.0; layer(x)
            for f in (lambda: lin(x), a0, a1): f()                          # warm-up
            t = {'lin': [], 'a0': [], 'a1': []}
            for _ in range(a.repeats):
                t['lin'].append(seconds(lambda: lin(x))); t['a0'].append(seconds(a0)); t['a1'].append(seconds(a1))
            m = {k: statistics.median(v) * 1e3 for k, v in t.items()}
            print(f"  {batch:>5} {m['lin']:>13.2f} {m['a0']:>11.2f} {m['a0'] / m['lin']:>6.2f} {m['a1']:>11.2f} {m['a1'] / m['lin']:>6.2f}")
    print("\ngoals (issue 2): alpha=1 <= 1.5x nn.Linear at batch 64; storage <= 4.5 bits/param")

if __name__ == '__main__': main()
