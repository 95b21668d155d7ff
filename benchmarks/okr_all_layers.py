"""Every MoE layer keyed against the last layer only, on `models/moe-small`: detection power, perplexity cost, detector cost per text.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/okr_all_layers.py [--rho 0.01] [--keys 3] [--seeds 4] [--length 512] [--n-null 99]

For each arm (`layers="last"`, `layers="all"`), `--keys` keys each continue the README's prompt with `--seeds` sampling seeds
(OKR at `--rho`); the same seeds without the key give the clean texts. Each text is scored by the detector that matches its
generator (`OKRDetector(layers=...)`, `--n-null` null keys, the tail and the exact p-value): the last-layer score needs one clean
forward for all keys; the all-layer score is the exact teacher-forced likelihood ratio, a keyed and a clean forward per key.
Seconds per text are measured side by side in one run. Writes `results/okr_all_layers/texts.csv` and `summary.csv`. One thread.
"""
import argparse, time
from pathlib import Path
import numpy as np
import pandas as pd
import torch
from transformers import AutoModelForCausalLM
from libortho_nb.okr import WatermarkKey, OKRSettings, okr_generate
from libortho_nb.detector import OKRDetector

ROOT = Path(__file__).resolve().parent.parent
PROMPT = b"def parse(text):"

@torch.no_grad()
def gen_nll(model, ids, P):
    lp = model(input_ids=ids).logits[:, P - 1:-1].float().log_softmax(-1)
    return -lp.gather(2, ids[:, P:, None])[..., 0].mean(1)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rho", type=float, default=0.01)
    ap.add_argument("--keys", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--length", type=int, default=512)
    ap.add_argument("--n-null", type=int, default=99)
    ap.add_argument("--out", default=str(ROOT / "results" / "okr_all_layers"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = AutoModelForCausalLM.from_pretrained(ROOT / "models" / "moe-small", dtype=torch.float32).eval()
    E, H, P = model.config.num_local_experts, model.config.hidden_size, len(PROMPT)
    prompts, st, rows = torch.tensor([list(PROMPT)] * a.seeds), OKRSettings(rho=a.rho), []
    for ki in range(1, a.keys + 1):
        key = WatermarkKey.from_seed(ki, H, E)
        clean = okr_generate(model, None, prompts, a.length, seed=ki)
        nll_c = gen_nll(model, clean, P)
        for layers in ("last", "all"):
            wm = okr_generate(model, key, prompts, a.length, st, layers=layers, seed=ki)
            nll_w = gen_nll(model, wm, P)
            for p_method in ("tail",):
                det = OKRDetector(model, key, st, layers=layers, n_null=a.n_null, p_method=p_method)
                for text, ids in (("watermarked", wm), ("clean", clean)):
                    t = time.perf_counter()
                    o = det(ids, prompt_len=P)
                    secs = (time.perf_counter() - t) / len(ids)
                    for j in range(len(ids)):
                        rows.append(dict(layers=layers, key=ki, row=j, text=text, z=float(o.z_score[j]),
                                         tail_p=float(o.tail_p_value[j]), exact_p=float(o.exact_p_value[j]),
                                         seconds_per_text=secs, nll=float((nll_w if text == "watermarked" else nll_c)[j]),
                                         nll_clean=float(nll_c[j])))
            print(f"key {ki} layers {layers} done", flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(Path(a.out) / "texts.csv", index=False)
    g = df.groupby(["layers", "text"])
    summ = g.agg(n=("z", "size"), detected_tail_p01=("tail_p", lambda p: (p <= 0.01).mean()),
                 detected_exact_p01=("exact_p", lambda p: (p <= 0.01).mean()), median_z=("z", "median"),
                 seconds_per_text=("seconds_per_text", "mean")).reset_index()
    w = df[df.text == "watermarked"].groupby("layers")
    summ = summ.merge((w.nll.mean() - w.nll_clean.mean()).apply(np.exp).rename("ppl_ratio").reset_index(), on="layers")
    summ["rho"], summ["length"], summ["n_null"] = a.rho, a.length, a.n_null
    summ.to_csv(Path(a.out) / "summary.csv", index=False)
    print(summ.to_string(index=False))

if __name__ == "__main__": main()
