"""The kernels considered for the CPU backend, measured side by side on a 4096x4096 layer: Base-stream candidates at
batch 1 and 64, Ortho-stream candidates (1 % density) at batch 1, 4, 16 and 64, each with its error against float64.
Writes results/cpu/candidates.csv.

    python benchmarks/cpu_candidates.py [--threads 1] [--reps 5] [--boost]

Base candidates compute `x @ W^T` for the INT4 Base stream (error against its float64 product), except dynamic int8,
which quantizes activations per tensor and weights per channel (its error is against the same float64 product, so it
shows what it would change). fp16 and fp32 activations through the INT4 kernel take its scalar path; they are measured
at batch 1 only (batch 64 takes seconds per call).
"""
import argparse, csv, os, sys, warnings
from pathlib import Path
import torch
import torch.nn.functional as F
from torch import nn
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_timing import boost, interleaved
from libortho_nb.ops import quantize_int4, dequantize_int4, csr_from_flat, csr_to_dense, relative_error, int4_linear
from libortho_nb.kernels.cpu import base_layout, ortho_layout

warnings.filterwarnings("ignore")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default="results/cpu")
    ap.add_argument("--boost", action="store_true",
                    help="raise this session's scheduler weight first (Linux, root), so other sessions' jobs yield")
    a = ap.parse_args()
    if a.boost: print(f"autogroup boost: {boost()}")
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(0)
    n = 4096
    w = (torch.randn(n, n, generator=g) * 0.02).bfloat16()
    base = quantize_int4(w, 128)
    lay = base_layout(base)
    w64, wb = dequantize_int4(base, torch.float64), dequantize_int4(base, torch.bfloat16)
    wf = dequantize_int4(base, torch.float32)
    mm = torch.ops.aten._weight_int4pack_mm_for_cpu
    sz16, sz32 = lay.sz.half(), lay.sz.float()
    w8 = torch.round(wf / (wf.abs().amax(1, keepdim=True) / 127)).to(torch.int8)           # per-channel int8
    s8 = (wf.abs().amax(1) / 127).bfloat16()
    lin = nn.Linear(n, n, bias=False)
    with torch.no_grad(): lin.weight.copy_(wf)
    dyn = torch.ao.quantization.quantize_dynamic(nn.Sequential(lin), {nn.Linear}, dtype=torch.qint8)
    rows = []
    for M in (1, 64):
        x = torch.randn(M, n, generator=g).bfloat16()
        x32, x16 = x.float(), x.half()
        truth = x.double() @ w64.T
        fns = {"INT4 kernel, bf16 x (chosen)": lambda: mm(x, lay.packed, lay.kgs, lay.sz),
               "F.linear bf16 (oneDNN)": lambda: F.linear(x, wb),
               "F.linear fp32": lambda: F.linear(x32, wf),
               "F.linear fp16": lambda: F.linear(x16, wf.half()),
               "_weight_int8pack_mm, bf16 x (per-channel int8 W)": lambda: torch.ops.aten._weight_int8pack_mm(x, w8, s8),
               "dynamic int8 (quantize_dynamic, fp32 in)": lambda: dyn(x32),
               "dequantize per call + matmul (reference int4_linear, bf16)": lambda: int4_linear(x, base)}
        if M == 1:
            fns |= {"INT4 kernel, fp32 x (scalar path)": lambda: mm(x32, lay.packed, lay.kgs, sz32),
                    "INT4 kernel, fp16 x (scalar path)": lambda: mm(x16, lay.packed, lay.kgs, sz16)}
        with torch.inference_mode():
            med, others = interleaved(fns, reps=a.reps)
            for name, f in fns.items():
                rows.append(dict(stream="base", candidate=name, batch=M, threads=a.threads, ms=round(med[name] * 1e3, 4),
                                 rel_error=f"{relative_error(f(), truth):.1e}", others_cpus=round(others, 2)))
                print(rows[-1], flush=True)
    k = round(0.01 * n * n)
    idx = torch.randperm(n * n, generator=g)[:k].sort().values
    csr = csr_from_flat(idx, (torch.randn(k, generator=g) * 0.005).bfloat16(), (n, n))
    ol = ortho_layout(csr)
    coo = ol.csr.to_sparse_coo()
    rowi = torch.repeat_interleave(torch.arange(n), ol.crow[1:] - ol.crow[:-1])
    d64 = csr_to_dense(csr, torch.float64)
    for M in (1, 4, 16, 64):
        x = torch.randn(M, n, generator=g)
        truth = x.double() @ d64.T
        fns = {"MKL CSR mv (batch 1) / mm": (lambda: torch.mv(ol.csr, x[0])[None]) if M == 1 else (lambda: (ol.csr @ x.T).T),
               "embedding_bag (fused gather + segment sum)": lambda: F.embedding_bag(
                   ol.col, x.T.contiguous(), ol.crow, per_sample_weights=ol.val, mode="sum", include_last_offset=True).T,
               "COO torch.sparse.mm": lambda: torch.sparse.mm(coo, x.T).T,
               "gather + index_add_": lambda: torch.zeros(n, M).index_add_(0, rowi, x.T[ol.col.long()] * ol.val[:, None]).T}
        with torch.inference_mode():
            med, others = interleaved(fns, reps=a.reps)
            for name, f in fns.items():
                rows.append(dict(stream="ortho", candidate=name, batch=M, threads=a.threads, ms=round(med[name] * 1e3, 4),
                                 rel_error=f"{relative_error(f(), truth):.1e}", others_cpus=round(others, 2)))
                print(rows[-1], flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "candidates.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0])); wr.writeheader(); wr.writerows(rows)
    print(f"wrote {out / 'candidates.csv'}")


if __name__ == "__main__":
    main()
