"""Small p-values validated: the detector's normal-tail p-value against 10,000 null draws (texts and keys independent of them).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/okr_null_tail.py [--rho 0.01] [--texts 100] [--cands 100] [--n-null 999]

A null draw is a (text, key) pair where the text owes nothing to the key: `--texts` texts of 512 bytes after a 16-byte prompt
(40% held-out human text, 40% the clean model's samples from the README's prompt, 20% samples watermarked with other keys), each
scored under `--cands` candidate keys (random, none used to make any text) and under the detector's fixed set of `--n-null` null
keys (`null_keys`, null_seed 0), on `models/moe-small` with OKR settings `--rho`/`--dead-zone` at the last layer. For every draw:
the exact random-key p-value and the normal-tail p-value (`tail_pvalue`) against all `--n-null` null keys and against the first
199 (the CLI's default). Writes `results/okr_null_tail/draws.csv` (one row per draw) and `summary.csv`: false-positive rates at
1e-2 and 1e-3 with exact (Clopper-Pearson) 95% intervals. Draws share texts and keys, so the intervals are a lower bound on the
sampling error. One thread.
"""
import argparse, time
from pathlib import Path
import numpy as np
import pandas as pd
import torch
from scipy import stats
from transformers import AutoModelForCausalLM
from libortho_nb.okr import WatermarkKey, OKRSettings, okr_generate
from libortho_nb.detector import OKRDetector, null_keys, key_statistic, random_key_pvalue, tail_pvalue
from libortho_nb.lab.corpus import stdlib_corpus, split_corpus, encode_bytes

ROOT = Path(__file__).resolve().parent.parent
PROMPT, L = b"def parse(text):", 512

def log(*a): print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)

def texts(model, n, E, H):
    "`[n, 16 + L]` null texts and their kinds: human, clean, other-key."
    P = len(PROMPT)
    n_h, n_c = int(0.4 * n), int(0.4 * n)
    held = encode_bytes(split_corpus(stdlib_corpus())[1]).long()
    human = held[:n_h * (P + L)].view(n_h, P + L)
    prompts = torch.tensor([list(PROMPT)] * 10)
    clean = torch.cat([okr_generate(model, None, prompts, L, seed=100 + i) for i in range(0, n_c, 10)])[:n_c]
    other = [okr_generate(model, WatermarkKey.from_seed(5000 + i, H, E), prompts, L, OKRSettings(rho=RHO), seed=200 + i)
             for i in range(0, n - n_h - n_c, 10)]
    other = torch.cat(other)[:n - n_h - n_c]
    return torch.cat([human, clean, other]), ["human"] * n_h + ["clean"] * n_c + ["other_key"] * len(other)

def main():
    global RHO
    ap = argparse.ArgumentParser()
    ap.add_argument("--rho", type=float, default=0.01)
    ap.add_argument("--dead-zone", type=float, default=0.1)
    ap.add_argument("--texts", type=int, default=100)
    ap.add_argument("--cands", type=int, default=100)
    ap.add_argument("--n-null", type=int, default=999)
    ap.add_argument("--out", default=str(ROOT / "results" / "okr_null_tail"))
    a = ap.parse_args()
    RHO = a.rho
    torch.set_num_threads(1)
    model = AutoModelForCausalLM.from_pretrained(ROOT / "models" / "moe-small", dtype=torch.float32).eval()
    E, H = model.config.num_local_experts, model.config.hidden_size
    t = time.time()
    ids, kinds = texts(model, a.texts, E, H)
    log(f"{len(ids)} texts in {time.time() - t:.0f} s")
    st = OKRSettings(rho=a.rho, dead_zone=a.dead_zone)
    base = WatermarkKey.from_seed(2026, H, E)
    det = OKRDetector(model, base, st, n_null=a.n_null)                      # the fixed null set, null_seed 0
    cands = null_keys(base, a.cands, null_seed=1)                            # independent of every text and of the null set
    assert not {k.fingerprint for k in cands} & {k.fingerprint for k in det.null}
    det.key, det.null = cands[0], cands[1:] + det.null                       # rows: candidates, then the null set
    rows = []
    for b in range(0, len(ids), 10):
        t = time.time()
        s = key_statistic(det.key_sums(ids[b:b + 10], prompt_len=len(PROMPT)))           # [cands + M, B]
        cand, null = s[:a.cands], s[a.cands:]
        for c in range(a.cands):
            res = dict(exact_p=random_key_pvalue(cand[c], null), tail_p=tail_pvalue(cand[c], null),
                       exact_p_199=random_key_pvalue(cand[c], null[:199]), tail_p_199=tail_pvalue(cand[c], null[:199]),
                       z=(cand[c] - null.mean(0)) / null.std(0))
            for j in range(s.shape[1]):
                rows.append(dict(text=b + j, kind=kinds[b + j], cand=c, **{k: float(v[j]) for k, v in res.items()}))
        log(f"texts {b}..{b + 9}: {time.time() - t:.0f} s")
    df = pd.DataFrame(rows)
    df.to_csv(Path(a.out) / "draws.csv", index=False)
    summ = []
    for col in ("exact_p", "tail_p", "exact_p_199", "tail_p_199"):
        for level in (1e-2, 1e-3):
            k, n = int((df[col] <= level).sum()), len(df)
            lo, hi = stats.beta.ppf(0.025, k, n - k + 1) if k else 0.0, stats.beta.ppf(0.975, k + 1, n - k)
            summ.append(dict(p_value=col, level=level, draws=n, false_positives=k, fpr=k / n, ci95_lo=lo, ci95_hi=hi,
                             level_inside_ci=lo <= level <= hi, texts=df.text.nunique(), cand_keys=a.cands,
                             rho=a.rho, dead_zone=a.dead_zone))
    summ = pd.DataFrame(summ)
    summ.to_csv(Path(a.out) / "summary.csv", index=False)
    print(summ.to_string(index=False))

if __name__ == "__main__": main()
