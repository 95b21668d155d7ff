"""How OKR's detection signal grows with the MoE's shape (layers x experts x top-k), measured per token on held-out text.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/okr_scaling.py [--steps 300] [--windows 16]

For each shape a byte-level Mixtral (hidden 96) is trained for `--steps` steps of the moe-small recipe (checkpoints in
/tmp/libortho_nb-runs/shape-<L>l<E>e<k>k, resumed if present: the okr_quality tutorial trains the first two shapes the same way);
`models/moe-small` (1200 steps) is measured too. On `--windows` held-out windows of 232 bytes (the first 32 are the prompt),
teacher-forced, it measures per scored byte: opportunities, changed decisions, and the divergences between keyed and clean next-byte
distributions: J = KL(keyed || clean) + KL(clean || keyed), the expected per-byte drift of OKRDetector's centred statistic on
watermarked text, and V, its per-byte variance under the clean model. From them, the predicted z-score after n bytes is
sqrt(n) * J / sqrt(V) and the predicted TPR at 1% FPR is Phi(z - 2.326): a prediction from measured divergences (on human
contexts, not generated ones), not a detection run. Keyed layers: the last one (rho 0.01) and all of them (rho 0.4).
"""
import argparse, json, math, time
from dataclasses import asdict
from pathlib import Path
import pandas as pd
import torch
from scipy import stats
from transformers import AutoModelForCausalLM
from transformers.utils import logging as hf_logging
from libortho_nb.lab.corpus import stdlib_corpus, split_corpus, encode_bytes
from libortho_nb.lab.training import byte_mixtral, TrainConfig, train_lm
from libortho_nb.okr import WatermarkKey, apply_okr, remove_okr, find_routers, okr_target
from libortho_nb.detector import scored_tokens

ROOT = Path(__file__).resolve().parent.parent
RECIPE = TrainConfig(steps=1200, batch_size=16, seq_len=256, lr=6e-3, warmup=50, eval_every=50, eval_tokens=256 * 32, save_every=200)
SHAPES = [(2, 8, 2), (4, 8, 2), (8, 8, 2), (4, 16, 4)]

@torch.no_grad()
def divergences(model, key, ids, P, layers, rho):
    "Per scored byte: opportunities and changed decisions per token (all keyed layers), J and V."
    sc = scored_tokens(ids, prompt_len=P); ctx = torch.zeros_like(sc); ctx[:, :-1] = sc[:, 1:]
    lp = lambda: model(input_ids=ids).logits[ctx].float().log_softmax(-1)
    clean = lp()
    target = okr_target(model, layers)
    keyed_r = apply_okr(target, key, rho=rho, record_tokens=True)
    try:
        keyed = lp()
        opp = sum(r.history[-1][0].view(ids.shape)[ctx].float() for r in keyed_r.values())
        chg = sum(r.history[-1][2].view(ids.shape)[ctx].float() for r in keyed_r.values())
    finally: remove_okr(target)
    d = keyed - clean; pc, pk = clean.exp(), keyed.exp()
    J = (pk * d).sum(-1) - (pc * d).sum(-1)
    V = ((pc * d * d).sum(-1) - (pc * d).sum(-1) ** 2).clamp(min=0)
    return dict(opportunities_per_token=opp.mean().item(), changed_per_token=chg.mean().item(), J=J.mean().item(), V=V.mean().item())

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300); ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--out", default=str(ROOT / "results" / "okr_detection"))
    a = ap.parse_args()
    torch.set_num_threads(1); hf_logging.set_verbosity_error()
    train_txt, held_txt = split_corpus(stdlib_corpus())
    train_stream, held = encode_bytes(train_txt), encode_bytes(held_txt)
    ids = held[:a.windows * 232].long().view(a.windows, 232)
    short = TrainConfig(**{**asdict(RECIPE), "steps": a.steps, "eval_every": 100})
    models = {}
    for L, E, k in SHAPES:
        t = time.time()
        m = byte_mixtral(hidden=96, layers=L, experts=E, top_k=k, seed=0)
        train_lm(m, train_stream, held, short, folder=Path("/tmp/libortho_nb-runs") / f"shape-{L}l{E}e{k}k", progress=False)
        models[f"{L}x{E} top-{k}, {a.steps} steps"] = (L, E, k, m.eval()); print(f"trained {L}x{E} top-{k} in {time.time() - t:.0f} s", flush=True)
    models["4x8 top-2, moe-small (1200 steps)"] = (4, 8, 2, AutoModelForCausalLM.from_pretrained(ROOT / "models" / "moe-small", dtype=torch.float32).eval())
    rows = []
    for name, (L, E, k, m) in models.items():
        key = WatermarkKey.from_seed(2026, m.config.hidden_size, m.config.num_local_experts)
        for layers, rho in (("last", 0.01), ("all", 0.4)):
            r = dict(model=name, layers_total=L, experts=E, top_k=k, keyed=layers, rho=rho, **divergences(m, key, ids, 32, layers, rho))
            for n in (50, 100, 200):
                z = math.sqrt(n) * r["J"] / math.sqrt(r["V"]) if r["V"] > 0 else 0.0
                r[f"pred_z_{n}"] = z; r[f"pred_tpr_{n}"] = float(stats.norm.cdf(z - 2.326))
            rows.append(r); print(r, flush=True)
    df = pd.DataFrame(rows); Path(a.out).mkdir(parents=True, exist_ok=True); df.to_csv(Path(a.out) / "scaling.csv", index=False)
    print(df.round(4).to_string())

if __name__ == "__main__": main()
