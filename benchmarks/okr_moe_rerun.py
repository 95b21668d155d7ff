"""The held-out perplexities of `results/okr_real/moe.csv` measured again on this machine (issue 20).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/okr_moe_rerun.py

Dense SmolLM2-135M and the MoE of `lab.real_moe` on the same 8 x 512 held-out tokens as `okr_real.py` (same
`perplexity` call). Dense SmolLM2's weights are the downloaded fixture, so a difference there is the machine's float
arithmetic, not a rebuilt model. Writes results/okr_real/moe_rerun.csv (one row per model: now, committed, ratio - 1).
"""
import sys
from pathlib import Path
import pandas as pd
import torch
from transformers.utils import logging as hf_logging
from libortho_nb.lab.real import real_text, token_batches, load_smollm2, perplexity
from libortho_nb.lab.real_moe import MoEficationSettings, load_moe, moe_name

ROOT = Path(__file__).resolve().parent.parent

def main():
    torch.set_num_threads(1); hf_logging.set_verbosity_error()
    res = ROOT / "results" / "okr_real"
    ms = MoEficationSettings()
    model, tok = load_moe(ms)
    held = token_batches(tok, real_text("wiki", "test"), 8, 512)
    m = pd.read_csv(res / "moe.csv").iloc[0]
    now = {"smollm2": perplexity(load_smollm2()[0], held), moe_name(ms): perplexity(model, held)}
    rows = [dict(model=k, ppl=v, committed_ppl=float(m[c]), rel_diff=v / float(m[c]) - 1, held_out="wiki test 8 x 512",
                 command=" ".join(["python", *sys.argv])) for (k, v), c in zip(now.items(), ("ppl_smollm2", "ppl_moe"))]
    pd.DataFrame(rows).to_csv(res / "moe_rerun.csv", index=False)
    print(pd.DataFrame(rows))
    return 0

if __name__ == "__main__": sys.exit(main())
