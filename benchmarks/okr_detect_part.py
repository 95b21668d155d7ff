"""Detect a slice of one OKR method's texts of `okr_baselines.py`, so that several processes share a slow detection (issue 20).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/okr_detect_part.py okr:all:boundary:0.5 wm 8 16 [--okr-null 19] [--okr-p tail]

Same model, key, detector and texts as `okr_baselines.py` (the watermarked ids must be in `<out>/ids/`, saved by its
run); scores texts `[lo, hi)` of one kind (wm, unwatermarked, human) `--detect-chunk` at a time and rewrites
`<out>/progress/<method>_<kind>_<lo>-<hi>.csv` after each chunk (per-text rows in `baselines_texts.csv`'s columns, with
the command). `--quality` also writes `<out>/progress/<method>_quality.csv`: the watermarked texts' perplexity under the
clean MoE, its cost against the unwatermarked texts and distinct-2, before the detection.
`--assemble` (with any text kind and slice) writes the method's rows of `baselines.csv` and `baselines_texts.csv` from
the slices once every text of every kind is there (give it the slices' `--okr-null` and `--okr-p`), with
`okr_baselines.py`'s formulas, and removes the slices.
"""
import argparse, sys, time
from pathlib import Path
import numpy as np
import torch
import pandas as pd
from transformers.utils import logging as hf_logging
from libortho_nb.lab.real import real_text, token_batches
from libortho_nb.lab.real_moe import MoEficationSettings, load_moe, moe_name
from okr_detection import log, text_quality
from okr_baselines import ROOT, okr_detector, okr_text_rows, detect_in_chunks, upsert, add_texts

def assemble(spec, out, n, a, cmd):
    "Once every text of `spec` is in `progress/` (any slices) and its quality file too: its rows of baselines.csv and baselines_texts.csv, as `okr_baselines.py` writes them."
    stem = spec.replace(":", "_")
    files = sorted((out / "progress").glob(f"{stem}*.csv"))
    q = pd.read_csv(out / "progress" / f"{stem}_quality.csv").iloc[0]
    d = pd.concat([pd.read_csv(f) for f in files if not f.name.endswith("_quality.csv")])
    d = d.drop_duplicates(["text", "idx"]).sort_values(["text", "idx"])
    have = d.groupby("text").idx.apply(lambda i: sorted(i) == list(range(n)))
    if set(have[have].index) != {"wm", "unwatermarked", "human"}:
        raise SystemExit(f"{spec}: not every text scored yet: {d.groupby('text').idx.count().to_dict()} of {n} each")
    k = {t: g for t, g in d.groupby("text")}
    rate = lambda p, lvl: float(np.mean(p <= lvl))
    w, cl, hu = k["wm"], k["unwatermarked"], k["human"]
    m = MoEficationSettings()
    row = dict(model=moe_name(m), n=n, prompt=32, new_tokens=200, command=cmd, method=spec, ppl=q.ppl,
               ppl_cost=q.ppl_cost, distinct_2=q.distinct_2, tpr_p01=rate(w.p_value, 0.01), tpr_p001=rate(w.p_value, 0.001),
               fpr_unwm_p01=rate(cl.p_value, 0.01), fpr_unwm_p001=rate(cl.p_value, 0.001),
               fpr_human_p01=rate(hu.p_value, 0.01), fpr_human_p001=rate(hu.p_value, 0.001),
               okr_null_keys=a.okr_null, p_values=f"okr {a.okr_p}", tpr_exact_p01=rate(w.p_exact, 0.01),
               median_score=float(w.score.median()), median_score_unwm=float(cl.score.median()),
               median_scored=float(w.scored.median()),
               opportunities_per_token=float(w.opportunities.sum() / w.scored.sum()),
               detect_seconds_per_text=float(d.detect_seconds_per_text.mean()) if "detect_seconds_per_text" in d else np.nan)
    upsert(out / "baselines.csv", row)
    add_texts(out / "baselines_texts.csv", spec, d.drop(columns=["detect_seconds_per_text"], errors="ignore"))
    for f in files: f.unlink()
    log(f"{spec}: {row}")

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec"); ap.add_argument("text", choices=["wm", "unwatermarked", "human"])
    ap.add_argument("lo", type=int); ap.add_argument("hi", type=int)
    ap.add_argument("--out", default=str(ROOT / "results" / "okr_real"))
    ap.add_argument("--n", type=int, default=16, help="texts per kind in the run")
    ap.add_argument("--prompt", type=int, default=32); ap.add_argument("--new", type=int, default=200)
    ap.add_argument("--okr-null", type=int, default=19); ap.add_argument("--okr-p", default="tail")
    ap.add_argument("--dead-zone", type=float, default=0.1); ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--detect-chunk", type=int, default=4); ap.add_argument("--quality", action="store_true")
    ap.add_argument("--assemble", action="store_true", help="only write the rows from the slices in progress/")
    a = ap.parse_args()
    out, cmd = Path(a.out), " ".join(["python", *sys.argv])
    if a.assemble: return assemble(a.spec, out, a.n, a, cmd)
    if not 0 <= a.lo < a.hi <= a.n: raise SystemExit(f"need 0 <= lo < hi <= n = {a.n}, got {a.lo}, {a.hi}")
    torch.set_num_threads(1); hf_logging.set_verbosity_error()
    model, tok = load_moe(MoEficationSettings())
    P, N = a.prompt, a.new
    human = token_batches(tok, real_text("wiki", "test"), a.n, P + N)                  # okr_baselines.py's windows
    ids = {"human": human, "unwatermarked": torch.load(out / "ids" / "clean.pt").long(),
           "wm": torch.load(out / "ids" / f"{a.spec.replace(':', '_')}.pt").long()}
    x = ids[a.text][a.lo:a.hi]
    if x.shape != (a.hi - a.lo, P + N) or not torch.equal(x[:, :P], human[a.lo:a.hi, :P]):
        raise SystemExit(f"{a.text} ids [{a.lo}, {a.hi}) are not {P} + {N} tokens from the human windows' prompts")
    *_, det = okr_detector(model, a.spec, a)
    prog = out / "progress" / f"{a.spec.replace(':', '_')}_{a.text}_{a.lo}-{a.hi}.csv"
    prog.parent.mkdir(exist_ok=True)
    if a.quality:                                                      # first: it is cheap
        n = len(ids["wm"])
        nll_c = text_quality(model, ids["unwatermarked"][:n], P, a.batch)[0]
        q = text_quality(model, ids["wm"], P, a.batch, nll_c)[1]
        pd.DataFrame([dict(method=a.spec, n=n, **q, command=cmd)]).to_csv(out / "progress" /
                                                                         f"{a.spec.replace(':', '_')}_quality.csv", index=False)
        log(f"{a.spec}: {q}")
    t = time.time()
    def progress(done, r):
        okr_text_rows(a.spec, {a.text: r}, a.lo).assign(detect_seconds_per_text=(time.time() - t) / done,
                                                        command=cmd).to_csv(prog, index=False)
        log(f"{a.spec} {a.text}: {done}/{len(x)} texts of [{a.lo}, {a.hi}) detected, {time.time() - t:.0f} s")
    detect_in_chunks(det, x, P, a.detect_chunk, progress)
    return 0

if __name__ == "__main__": sys.exit(main())
