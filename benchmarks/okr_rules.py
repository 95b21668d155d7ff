"""Rules "boundary" and "max" on the real MoE: the same routing, token by token (issue 20).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/okr_rules.py [--n 8] [--rho 0.2 0.5 0.9]

The MoE of `lab.real_moe` routes top-1, so the k-th largest score (the "boundary" rule's reference) is the largest (the
"max" rule's): both safe sets are {e : s_e >= rho * s_max}. The generator runs the two rules through different code
(`keyed_boundary` and `safe_set` + `keyed_selection` in `KeyedRouter.forward`), so this measures it instead of assuming
it: the first `--n` committed unwatermarked texts (`results/okr_real/ids/clean.pt`) and their human continuations go
through the model keyed on every MoE layer (key 2026, dead zone 0.1) under each rule, teacher-forced; per rho it
counts the tokens whose opportunity, dead-zone or changed flag differs between the rules at any layer, and the largest
difference of their logits. Equal logits at every position mean equal sampling at every step (same seed), so the
texts of `okr_generate` and the detector's scores are the same under either rule. Writes results/okr_real/rules.csv.
"""
import argparse, sys
from pathlib import Path
import pandas as pd
import torch
from transformers.utils import logging as hf_logging
from libortho_nb.okr import WatermarkKey, OKRSettings, apply_okr, remove_okr
from libortho_nb.lab.real import real_text, token_batches
from libortho_nb.lab.real_moe import MoEficationSettings, load_moe, moe_name

ROOT = Path(__file__).resolve().parent.parent

@torch.no_grad()
def keyed_pass(model, key, settings, ids):
    "Logits `[B, T, V]` of the model keyed on every MoE layer, and per router its (opportunity, dead, changed) flags."
    routers = apply_okr(model, key, settings, record_tokens=True)
    try: logits = model(input_ids=ids, use_cache=False).logits
    finally: remove_okr(model)
    return logits, {n: torch.stack(r.history[-1]) for n, r in routers.items()}       # [3, B * T] per router

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8); ap.add_argument("--prompt", type=int, default=32)
    ap.add_argument("--new", type=int, default=200)
    ap.add_argument("--rho", type=float, nargs="+", default=[0.2, 0.5, 0.9])
    ap.add_argument("--out", default=str(ROOT / "results" / "okr_real" / "rules.csv"))
    a = ap.parse_args()
    torch.set_num_threads(1); hf_logging.set_verbosity_error()
    cmd = " ".join(["python", *sys.argv])
    ms = MoEficationSettings()
    model, tok = load_moe(ms)
    P, N = a.prompt, a.new
    human = token_batches(tok, real_text("wiki", "test"), a.n, P + N)
    clean = torch.load(ROOT / "results" / "okr_real" / "ids" / "clean.pt").long()[:a.n]
    if not torch.equal(clean[:, :P], human[:, :P]): raise SystemExit("clean.pt's prompts are not the human windows' starts")
    key = WatermarkKey.from_seed(2026, model.config.hidden_size, model.config.num_experts)
    rows = []
    for rho in a.rho:
        for text, ids in (("unwatermarked", clean), ("human", human)):
            (lb, fb), (lm, fm) = (keyed_pass(model, key, OKRSettings(rule, rho, 0.1), ids) for rule in ("boundary", "max"))
            differ = torch.stack([(fb[n] != fm[n]).any(0) for n in fb]).any(0)                # [B * T] any flag, any layer
            rows.append(dict(model=moe_name(ms), top_k=model.config.num_experts_per_tok, rho=rho, text=text, texts=a.n,
                             tokens=ids.numel(), keyed_layers=len(fb),
                             opportunities_boundary=int(sum(f[0].sum() for f in fb.values())),
                             opportunities_max=int(sum(f[0].sum() for f in fm.values())),
                             changed_boundary=int(sum(f[2].sum() for f in fb.values())),
                             changed_max=int(sum(f[2].sum() for f in fm.values())),
                             tokens_differing=int(differ.sum()), max_abs_logit_diff=float((lb - lm).abs().max()),
                             command=cmd))
            print(rows[-1], flush=True)
            pd.DataFrame(rows).to_csv(a.out, index=False)
    return 0

if __name__ == "__main__": sys.exit(main())
