"""Mode `revert` against `residual` and `outlier` after full or LoRA fine-tuning, on the committed byte-level models (issue 14).

    OMP_NUM_THREADS=1 python benchmarks/privacy_revert.py            # ~50 min on one shared thread
    OMP_NUM_THREADS=1 python benchmarks/privacy_revert.py --methods delta --modes revert --sparsities 0.2 0.5   # the way to negation
    OMP_NUM_THREADS=1 python benchmarks/privacy_revert.py --kind lora --modes revert --contrastive \
        --sparsities 0.005 0.01 0.02 0.05 --alphas 0 1 0.5          # the LoRA canaries (models/llama-canaries-lora)

Writes results/privacy/revert_{kind}.csv (appending; rerunning skips the rows already measured) and
results/privacy/revert_baselines_{kind}.csv. `--kind lora`: the merged LoRA fine-tune (W_before + BA on every linear
of every block) against the same base, `llama-base`, so revert puts the selected entries of BA back to zero; the
LoRA plant mixed in the same `PLANT_SETUP.general_docs` documents, so `domain_bpb` is measured on the same text.
The same metrics as benchmarks/privacy_grid.py (200 candidates per canary, 32,768 held-out bytes), plus `domain_bpb`:
bits per byte on the fine-tuning's general documents (the first `PLANT_SETUP.general_docs` of the corpus's training
split, which the fine-tune trained on and the base had seen too: the byte-level fine-tune has no held-out domain of its
own).

Selectors: delta, delta_fisher (delta^2 over the floored general Fisher), random (the control); contrastive with
--contrastive. Controls: INT4 of the fine-tuned model (residual at alpha=0), random selection, and task-vector negation:
`revert` with every entry of every converted layer selected (`negation` rows, sparsity 1), next to the model before
fine-tuning itself (`floor`: embeddings, norms and the tied lm_head back too, which no converted layer holds).
"""
import argparse, copy, sys, time
from pathlib import Path
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from privacy_grid import setup                                          # the same models, canaries and data
from libortho_nb.engine import selection, convert, set_alpha, METHOD_NEEDS
from libortho_nb.lab.corpus import stdlib_corpus, split_corpus, encode_bytes
from libortho_nb.lab.privacy import privacy_metrics, privacy_grid, kill_switch_table, PLANT_SETUP

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "privacy"
MODES = ("revert", "outlier", "residual")                                # revert first: each pass is resumable
ALL = 1 - 1e-9                                                           # rounds to every entry of every layer

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", choices=("full", "lora"), default="full", help="which committed fine-tune")
    p.add_argument("--sparsities", nargs="*", type=float, default=[0.01, 0.05])
    p.add_argument("--alphas", nargs="*", type=float, default=[0.0, 1.0])
    p.add_argument("--methods", nargs="*", default=["delta", "delta_fisher", "random"])
    p.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES)
    p.add_argument("--contrastive", action="store_true", help="also the contrastive selector (sees the canary texts)")
    p.add_argument("--n-candidates", type=int, default=200)
    p.add_argument("--held-tokens", type=int, default=32_768)
    p.add_argument("--out", type=Path, default=OUT, help="where the two CSVs go")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    ft, base, canaries, calib, private, _, held = setup(a.kind)
    train_txt, _ = split_corpus(stdlib_corpus())
    domain = encode_bytes(train_txt[:PLANT_SETUP.general_docs])
    kw = dict(n_candidates=a.n_candidates, held_tokens=a.held_tokens, domain_stream=domain)
    bl = a.out / f"revert_baselines_{a.kind}.csv"
    if not bl.exists():
        int4 = convert(copy.deepcopy(ft), 0.0, mode="residual", group_size=64, progress=False)
        rows = [dict(model=n, **privacy_metrics(m, canaries, held, **kw)) for n, m in (("ft", ft), ("floor", base),
                                                                                      ("int4_rtn", int4))]
        pd.DataFrame(rows).to_csv(bl, index=False)
    print(pd.read_csv(bl).round(4).to_string(index=False), flush=True)
    methods = a.methods + (["contrastive"] if a.contrastive else [])
    data = dict(calib=calib, private=private, reference=base)
    sels = {m: selection(ft, m, **{k: data[k] for k in METHOD_NEEDS[m]}, progress=False) for m in methods}
    print(f"selections: {time.time() - t0:.0f} s", flush=True)
    grid = a.out / f"revert_{a.kind}.csv"
    done = pd.read_csv(grid) if grid.exists() else pd.DataFrame(columns=["method", "mode", "sparsity", "alpha"])
    # task-vector negation of every converted layer: revert with everything selected (the selector does not matter)
    for al in a.alphas:
        if ((done["method"] == "negation") & (done["alpha"] == al)).any(): continue
        neg = convert(copy.deepcopy(ft), ALL, mode="revert", group_size=64, progress=False, reference=base)
        set_alpha(neg, al)
        row = dict(method="negation", mode="revert", sparsity=1.0, alpha=al, **privacy_metrics(neg, canaries, held, **kw),
                   measured_on="this")
        pd.DataFrame([row]).to_csv(grid, mode="a", header=not grid.exists(), index=False)
        del neg
    print(f"negation: {time.time() - t0:.0f} s", flush=True)
    for mode in a.modes:
        privacy_grid(ft, canaries, held, sels, modes=(mode,), sparsities=tuple(a.sparsities), alphas=tuple(a.alphas),
                     group_size=64, out_csv=grid, progress=False, reference=base, **kw)
        print(f"{mode}: {time.time() - t0:.0f} s", flush=True)
    b = pd.read_csv(bl).set_index("model")
    t = kill_switch_table(pd.read_csv(grid), b.loc["ft"].to_dict(), b.loc["floor"].to_dict())
    t["domain_gain_kept"] = (b.loc["floor", "domain_bpb"] - t.domain_bpb) / (b.loc["floor", "domain_bpb"] - b.loc["ft", "domain_bpb"])
    cols = ["method", "mode", "sparsity", "alpha", "extraction", "way_to_floor", "ppl_ratio", "domain_gain_kept"]
    print(t[cols].round(3).to_string(index=False))
    print(f"done: {time.time() - t0:.0f} s", flush=True)
    return 0

if __name__ == "__main__": sys.exit(main())
