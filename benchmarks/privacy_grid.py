"""The privacy experiment's full grid on the committed checkpoints (issue 4).

    OMP_NUM_THREADS=1 python benchmarks/privacy_grid.py --kind full      # ~1 h on one thread
    OMP_NUM_THREADS=1 python benchmarks/privacy_grid.py --kind lora
    OMP_NUM_THREADS=1 python benchmarks/privacy_grid.py --kind full --validate   # exposure over 10,000 candidates for chosen points

Writes results/privacy/{baselines,grid,eps,validate}_{kind}.csv, appending; rerunning skips the rows already measured.
Every number in the privacy tutorial's full-grid tables comes from these files.
"""
import argparse, copy, sys, time
from pathlib import Path
import pandas as pd
import torch
from transformers import AutoModelForCausalLM
from transformers.utils import logging as hf_logging
from libortho_nb.lab.corpus import stdlib_corpus, split_corpus, encode_bytes
from libortho_nb.engine import selection, convert, set_alpha, METHOD_NEEDS
from libortho_nb.lab.privacy import load_canaries, privacy_metrics, privacy_grid, PLANT_SETUP

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("contrastive", "fisher_private", "delta", "fisher", "activation", "magnitude", "random")
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
SWEEP = ("contrastive:secret", "contrastive", "delta", "random")                # the alpha sweep's selectors, measured first

def setup(kind):
    hf_logging.set_verbosity_error()
    load = lambda n: AutoModelForCausalLM.from_pretrained(ROOT / "models" / n, dtype=torch.float32).eval()
    ft = load("llama-canaries" if kind == "full" else "llama-canaries-lora")
    base = load("llama-base")
    canaries = load_canaries(ROOT / "models" / "llama-canaries")
    train_txt, held_txt = split_corpus(stdlib_corpus())
    general = train_txt[PLANT_SETUP.general_docs:]                      # general text the fine-tuning did not use
    calib = [w for w in encode_bytes(general)[: 64 * 256].view(64, 256)]  # 64 windows of 256 bytes
    private = [encode_bytes(c.text) for c in canaries]                     # the canary texts, once each
    secret_only = [dict(input_ids=t, labels=t.masked_fill(torch.arange(len(t)) < len(c.prefix.encode()), -100))   # loss on the PIN only
                   for t, c in zip(private, canaries)]
    return ft, base, canaries, calib, private, secret_only, encode_bytes(held_txt)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", choices=("full", "lora"), default="full")
    p.add_argument("--n-candidates", type=int, default=200)
    p.add_argument("--held-tokens", type=int, default=32_768)
    p.add_argument("--methods", nargs="*", default=list(METHODS))
    p.add_argument("--sparsities", nargs="*", type=float, default=None, help="outlier pass only at these (default: 0.5/1/2/5%%, LoRA 0.5/1/2%%)")
    p.add_argument("--validate", action="store_true", help="10,000-candidate exposure for the baselines and the default configuration")
    p.add_argument("--eps", action="store_true", help="sweep the contrastive selector's eps")
    p.add_argument("--validate-canaries", type=int, default=5, help="--validate: how many canaries (10,000 candidates each)")
    p.add_argument("--secret-only", action="store_true", help="--validate: the default configuration with private data scored on the secret bytes only")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    out = ROOT / "results" / "privacy"; out.mkdir(parents=True, exist_ok=True)
    ft, base, canaries, calib, private, secret_only, held = setup(a.kind)
    kw = dict(n_candidates=a.n_candidates, held_tokens=a.held_tokens)
    t0 = time.time()
    bl = out / f"baselines_{a.kind}.csv"
    if not bl.exists():
        int4 = convert(copy.deepcopy(ft), 0.0, mode="residual", group_size=64, progress=False)
        rows = [dict(model=n, **privacy_metrics(m, canaries, held, **kw)) for n, m in (("ft", ft), ("floor", base), ("int4_rtn", int4))]
        pd.DataFrame(rows).to_csv(bl, index=False)
    print(pd.read_csv(bl).round(4).to_string(index=False), flush=True)
    if a.validate:
        from libortho_nb.engine import compress
        rows = []
        killed = compress(copy.deepcopy(ft), calib, private=secret_only if a.secret_only else private, sparsity=0.01, progress=False)
        for name, m, al in (("ft", ft, 1.0), ("default@0", killed, 0.0)):
            if name.startswith("default"): set_alpha(m, al)
            for n_cand in (200, 10_000):                                   # the same canaries, both sample sizes
                rows.append(dict(model=name, n_candidates=n_cand, **privacy_metrics(m, canaries[:a.validate_canaries], held, n_candidates=n_cand, held_tokens=a.held_tokens)))
            print(rows[-1], flush=True)
        pd.DataFrame(rows).to_csv(out / f"validate_{a.kind}.csv", index=False)
        return 0
    sels = {}
    for m in a.methods:
        data = dict(calib=calib, private=private, reference=base)
        sels[m] = selection(ft, m, **{k: data[k] for k in METHOD_NEEDS[m]}, progress=False)
    for m in ("contrastive", "fisher_private"):                            # the same selectors with the loss on the secret bytes only
        if m in a.methods: sels[f"{m}:secret"] = selection(ft, m, calib=calib if m == "contrastive" else None, private=secret_only, progress=False)
    print(f"selections: {time.time() - t0:.0f} s", flush=True)
    if a.eps:
        f_priv = selection(ft, "fisher_private", private=private, progress=False)[0]
        f_gen = selection(ft, "fisher", calib=calib, progress=False)[0]
        eps_sels = {f"contrastive:eps={e:g}": ({n: f_priv[n] / (f_gen[n] + e * f_gen[n].mean()) for n in f_priv}, None) for e in (1e-4, 1e-3, 1e-2, 1e-1, 1.0)}
        privacy_grid(ft, canaries, held, eps_sels, modes=("outlier",), sparsities=(0.005, 0.01), alphas=(0.0,), out_csv=out / f"eps_{a.kind}.csv", **kw)
        print(pd.read_csv(out / f"eps_{a.kind}.csv").round(4).to_string(index=False))
        return 0
    grid = out / f"grid_{a.kind}.csv"
    sparse = tuple(a.sparsities) if a.sparsities else (0.005, 0.01, 0.02, 0.05) if a.kind == "full" else (0.005, 0.01, 0.02)
    run = lambda modes, sp, al: privacy_grid(ft, canaries, held, sels, modes=modes, sparsities=sp, alphas=al, out_csv=grid, **kw)
    run(("outlier",), sparse, (0.0, 1.0)); print(f"outlier at alpha 0 and 1: {time.time() - t0:.0f} s", flush=True)
    if a.kind == "full" and not a.sparsities:                              # most informative first: each pass is resumable
        sweep = {k: v for k, v in sels.items() if k in SWEEP}
        privacy_grid(ft, canaries, held, sweep, modes=("outlier",), sparsities=(0.01,), alphas=ALPHAS, out_csv=grid, **kw)
        print(f"outlier alpha sweep at 1%: {time.time() - t0:.0f} s", flush=True)
        run(("residual",), (0.01,), (0.0, 1.0)); print(f"residual at 1%: {time.time() - t0:.0f} s", flush=True)
        privacy_grid(ft, canaries, held, sweep, modes=("residual",), sparsities=(0.01,), alphas=ALPHAS, out_csv=grid, **kw)
        print(f"residual alpha sweep at 1%: {time.time() - t0:.0f} s", flush=True)
        run(("residual",), sparse, (0.0, 1.0)); print(f"residual at every sparsity: {time.time() - t0:.0f} s", flush=True)
        run(("outlier", "residual"), (0.01,), ALPHAS); print(f"alpha sweep at 1%, every selector: {time.time() - t0:.0f} s", flush=True)
    print(f"done: {time.time() - t0:.0f} s", flush=True)
    print(pd.read_csv(grid).round(4).to_string(index=False))
    return 0

if __name__ == "__main__": sys.exit(main())
