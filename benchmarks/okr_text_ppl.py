"""Per-text perplexity of every saved text of `okr_baselines.py` under the clean MoE, and each text's distinct-2.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/okr_text_ppl.py [--n 16]

The pooled `ppl_cost` of `baselines.csv` is exp(mean NLL over all generated tokens): a few texts that fall into a loop
(low NLL on every repeated token) move it a lot. This writes `<out>/text_ppl.csv`, one row per (method, text): the
clean MoE's perplexity of the text's generated tokens, its ratio to the unwatermarked text from the same prompt and
sampling seed, and distinct-2, so the median ratio can stand beside the pooled one. One torch thread.
"""
import argparse, math, sys
from pathlib import Path
import numpy as np
import pandas as pd
import torch
from transformers.utils import logging as hf_logging
from libortho_nb.lab.real import real_text, token_batches
from libortho_nb.lab.real_moe import MoEficationSettings, load_moe
from okr_detection import log, batched, gen_nll   # benchmarks/ is on the path

ROOT = Path(__file__).resolve().parent.parent

def distinct2(r, P):
    w = r[P:].unfold(0, 2, 1)
    return len(set(map(tuple, w.tolist()))) / w.shape[0]

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "results" / "okr_real"))
    ap.add_argument("--n", type=int, default=16); ap.add_argument("--prompt", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    a = ap.parse_args()
    torch.set_num_threads(1); hf_logging.set_verbosity_error()
    out, P = Path(a.out), a.prompt
    cmd = " ".join(["python", *sys.argv])
    model, tok = load_moe(MoEficationSettings())
    texts = {f.stem: torch.load(f).long()[:a.n] for f in sorted((out / "ids").glob("*.pt"))}
    texts["human"] = token_batches(tok, real_text("wiki", "test"), a.n, texts["clean"].shape[1])
    nll = {m: batched(lambda x, i: gen_nll(model, x, P), ids, a.batch).mean(1) for m, ids in texts.items()}   # [n]
    rows = [dict(method=m, idx=i, ppl=math.exp(float(nll[m][i])), ppl_ratio=math.exp(float(nll[m][i] - nll["clean"][i])),
                 distinct_2=distinct2(ids[i], P), command=cmd) for m, ids in texts.items() for i in range(a.n)]
    df = pd.DataFrame(rows)
    df.to_csv(out / "text_ppl.csv", index=False)
    log("\n" + df.groupby("method")[["ppl_ratio", "distinct_2"]].median().round(3).to_string())

if __name__ == "__main__":
    main()
