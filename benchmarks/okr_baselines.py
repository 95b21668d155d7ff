"""Watermark baselines beside OKR on the real MoE at 200 BPE tokens: KGW, Unigram, SynthID-Text, EXP (and OKR again).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/okr_baselines.py [--n 32] [--methods kgw:2.0 unigram:2.0 exp synthid:4 ...]

Same prompts, human continuations, sampling seeds and clean texts as `okr_real.py` (the first 16 of 32 prompts are its
16): the MoE of `lab.real_moe` samples `--new` tokens at temperature 1 (no top-k/top-p) from each prompt, once without a
watermark and once per method. Methods (`lab.wm_baselines`):
  kgw:<bias>          transformers `WatermarkingConfig` (lefthash, greenlist 0.25); exact binomial p of its green counts
  unigram:<delta>     Zhao et al.: one fixed green list (gamma 0.5); exact hypergeometric p over distinct tokens
  synthid:<depth>     transformers `SynthIDTextWatermarkingConfig` (ngram_len 5, <depth> keys); mean g-value, exact
                      binomial p with the sampling table's share of ones (derived, not calibrated)
  exp[:<h>]           Aaronson: Gumbel-max with a keyed PRF of the previous h tokens (default 1); sum -log(1-r),
                      exact Gamma p
  okr:<layers>:<rule>:<rho>  OKR (`OKRDetector`, `--okr-null` null keys, p-value `--okr-p`)
Per method, to `<out>/baselines.csv` (one row per method, rewritten as each finishes; the unwatermarked and human
reference rows are written once, each run's own go to `<out>/reference_reruns.csv`): TPR at p <= 0.01 and 0.001 (analytic
p-values, so both levels are read off the p-value, not an empirical threshold); FPR at the same levels on the
n unwatermarked and n human texts under the true key, and on `--null-keys` random keys x those 2n texts (the null
"text does not depend on the key" checked with many keys on real text); perplexity of the generated tokens under the
clean MoE over that of the unwatermarked texts; distinct-2; detection seconds per text. `<out>/robust.csv`: TPR at
p <= 0.01 after 10%/30% random substitution, deletion, insertion (seeded) and copy-paste (25%/50% of the text after the
prompt watermarked, inside the human text). Generated ids are saved in `<out>/ids/<method>.pt` and reused on a rerun
(delete them to regenerate). One torch thread.
"""
import argparse, sys, time
from dataclasses import fields, replace
from pathlib import Path
import numpy as np
import pandas as pd
import torch
from transformers import LogitsProcessorList, SynthIDTextWatermarkingConfig, WatermarkingConfig
from transformers.utils import logging as hf_logging
from libortho_nb.okr import WatermarkKey, OKRSettings
from libortho_nb.detector import OKRDetector
from libortho_nb.lab.real import real_text, token_batches
from libortho_nb.lab.real_moe import MoEficationSettings, load_moe, moe_name
from libortho_nb.lab.okr_eval import edit_tokens, copy_paste
from libortho_nb.lab.wm_baselines import (unigram_greenlist, UnigramLogitsProcessor, unigram_detect, kgw_detect,
                                          synthid_detect, EXPLogitsProcessor, exp_detect)
from libortho_nb.okr import okr_generate
from okr_detection import log, batched, text_quality, reference_rows, ATTACKS   # benchmarks/ is on the path
from csv_lock import locked

ROOT = Path(__file__).resolve().parent.parent
KEY = 2026

def upsert(path, row, key="method"):
    "Replace the row of `path` whose `key` equals row[key] (or append it), keeping the other rows."
    with locked(path):
        old = pd.read_csv(path) if path.exists() else pd.DataFrame()
        if len(old) and key in old: old = old[old[key] != row[key]]
        pd.concat([old, pd.DataFrame([row])], ignore_index=True).to_csv(path, index=False)

def add_texts(path, spec, df):
    "Replace `spec`'s per-text rows of `path` by `df` (a rerun of one method leaves the others' rows alone)."
    with locked(path):
        old = pd.read_csv(path) if path.exists() else pd.DataFrame()
        if len(old): old = old[old.method != spec]
        pd.concat([old, df], ignore_index=True).to_csv(path, index=False)

def keep_reference(out, row):
    "Write reference `row` (unwatermarked, human) to baselines.csv only if it has none yet; every run's goes to reference_reruns.csv."
    path = out / "baselines.csv"
    with locked(path): old = pd.read_csv(path) if path.exists() else pd.DataFrame()
    first = old[old.method == row["method"]] if len(old) else old
    if not len(first): upsert(path, row)
    else: row = dict(row, committed_ppl=float(first.ppl.iloc[0]), rel_diff=row["ppl"] / float(first.ppl.iloc[0]) - 1)
    f = out / "reference_reruns.csv"
    with locked(f):
        pd.concat([pd.read_csv(f) if f.exists() else pd.DataFrame(), pd.DataFrame([row])]).to_csv(f, index=False)
    if len(first): log(f"{row['method']}: this run's ppl {row['ppl']:.6f}, baselines.csv keeps {row['committed_ppl']:.6f} "
                       f"({row['rel_diff']:+.1e})")

def detect_in_chunks(det, ids, P, chunk, progress):
    "`det(ids, prompt_len=P)` `chunk` rows at a time, concatenated; `progress(rows done, output so far)` after each."
    outs = []
    for i in range(0, len(ids), chunk):
        outs.append(det(ids[i:i + chunk], prompt_len=P))
        arrays = [f.name for f in fields(outs[0]) if isinstance(getattr(outs[0], f.name), np.ndarray)]
        o = replace(outs[0], **{n: np.concatenate([getattr(x, n) for x in outs]) for n in arrays})
        progress(min(i + chunk, len(ids)), o)
    return o

def okr_detector(model, spec, a):
    "(key, settings, layers, `OKRDetector`) of OKR method `spec` (okr:<layers>:<rule>:<rho>) with the run's options `a`."
    _, layers, rule, rho = spec.split(":")
    okr = OKRSettings(rule, float(rho), a.dead_zone)
    key = WatermarkKey.from_seed(KEY, model.config.hidden_size, model.config.num_experts)
    return key, okr, layers, OKRDetector(model, key, okr, layers=layers, n_null=a.okr_null, batch_size=a.batch,
                                         p_method=a.okr_p)

def okr_text_rows(spec, o, start=0):
    "Per-text rows of OKR method `spec` from `{text kind: OKRDetectorOutput}`, texts numbered from `start`."
    return pd.concat([pd.DataFrame(dict(
        method=spec, text=text, idx=start + np.arange(len(r.p_value)), scored=r.num_tokens_scored, score=r.z_score,
        p_value=r.p_value, p_exact=r.exact_p_value, opportunities=r.num_opportunities)) for text, r in o.items()])

def scheme(spec, V, key=KEY):
    "(generate kwargs, detect(ids, P, mask) -> BaselineScores, detect under another key k) for a baseline `spec`."
    name, *arg = spec.split(":")
    if name == "kgw":
        wc = lambda k: WatermarkingConfig(bias=float(arg[0]), greenlist_ratio=0.25, seeding_scheme="lefthash",
                                          hashing_key=k)
        return (dict(watermarking_config=wc(key)), lambda ids, P, m=None, k=key: kgw_detect(ids, wc(k), V, P, m))
    if name == "unigram":
        gl = lambda k: unigram_greenlist(V, k, 0.5)
        return (dict(logits_processor=LogitsProcessorList([UnigramLogitsProcessor(gl(key), float(arg[0]))])),
                lambda ids, P, m=None, k=key: unigram_detect(ids, gl(k), P, m))
    if name == "synthid":
        sc = lambda k: SynthIDTextWatermarkingConfig(keys=[k * 1000 + i for i in range(int(arg[0]))], ngram_len=5)
        return (dict(watermarking_config=sc(key)), lambda ids, P, m=None, k=key: synthid_detect(ids, sc(k), P, m))
    if name == "exp":                                  # exp (one previous token) or exp:<h> (h previous tokens)
        h = int(arg[0]) if arg else 1
        return (dict(logits_processor=LogitsProcessorList([EXPLogitsProcessor(key, V, h)])),
                lambda ids, P, m=None, k=key: exp_detect(ids, k, V, P, m, context=h))
    raise ValueError(f"unknown method {spec!r}: expected kgw:<bias>, unigram:<delta>, synthid:<depth>, exp or okr:...")

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "results" / "okr_real"))
    ap.add_argument("--n", type=int, default=32, help="texts per class")
    ap.add_argument("--prompt", type=int, default=32); ap.add_argument("--new", type=int, default=200)
    ap.add_argument("--methods", nargs="+", default=["kgw:2.0", "kgw:1.0", "unigram:2.0", "exp", "synthid:4",
                                                     "okr:all:boundary:0.5"])
    ap.add_argument("--null-keys", type=int, default=16, help="random keys for the real-text null (KGW: --kgw-null-keys)")
    ap.add_argument("--kgw-null-keys", type=int, default=4, help="KGW's detector costs ~0.5 s per text here")
    ap.add_argument("--okr-null", type=int, default=19); ap.add_argument("--okr-p", default="tail")
    ap.add_argument("--dead-zone", type=float, default=0.1)
    ap.add_argument("--detect-chunk", type=int, default=4, help="OKR: texts per detector call (progress after each)")
    ap.add_argument("--batch", type=int, default=16); ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(1); hf_logging.set_verbosity_error()
    out = Path(a.out); (out / "ids").mkdir(parents=True, exist_ok=True)
    cmd = " ".join(["python", *sys.argv]); print("command:", cmd)
    t0 = time.time()
    ms = MoEficationSettings()
    model, tok = load_moe(ms)
    P, N, V = a.prompt, a.new, model.config.vocab_size
    human = token_batches(tok, real_text("wiki", "test"), a.n, P + N)                  # [n, P + N]
    prompts = human[:, :P]
    base = dict(model=moe_name(ms), n=a.n, prompt=P, new_tokens=N, command=cmd)
    log(f"{a.n} prompts of {P} tokens, {N} new; model {moe_name(ms)}")

    def gen(name, k=None, okr=None, layers="last", **kw):
        "Generated ids `[n, P + N]` of method `name`, loaded from `ids/` when a previous run saved them."
        f = out / "ids" / f"{name.replace(':', '_')}.pt"
        if f.exists():
            ids = torch.load(f).long()[:a.n]          # a run at larger n (batches of a.batch, same seeds) holds these
            if ids.shape == (a.n, P + N) and torch.equal(ids[:, :P], prompts): return ids, float("nan")
        t = time.time()
        ids = batched(lambda p, i: okr_generate(model, k, p, N, okr, layers=layers, seed=a.seed + i, **kw),
                      prompts, a.batch)
        dt = time.time() - t
        torch.save(ids.to(torch.int32), f)
        return ids, dt

    clean, _ = gen("clean")
    nll_c, refs = reference_rows(model, clean, human, P, a.batch, base)
    for r in refs: keep_reference(out, r)
    log("clean texts ready")
    nulls = {}                                        # detection does not depend on the strength: one null per scheme

    quality = lambda wm: text_quality(model, wm, P, a.batch, nll_c)[1]

    def rates(prefix, p):
        p = np.asarray(p, float)
        return {f"{prefix}_p01": float(np.mean(p <= 0.01)), f"{prefix}_p001": float(np.mean(p <= 0.001))}

    def per_text(spec, o):
        add_texts(out / "baselines_texts.csv", spec, pd.concat([pd.DataFrame(dict(
            method=spec, text=text, idx=np.arange(len(r.p_value)), scored=r.num_scored, score=r.score,
            p_value=r.p_value, command=cmd)) for text, r in o.items()]))

    def run_baseline(spec):
        gkw, det = scheme(spec, V)
        wm, tg = gen(spec, **gkw)
        t = time.time()
        o = {"wm": det(wm, P), "unwatermarked": det(clean, P), "human": det(human, P)}
        td = (time.time() - t) / (3 * a.n)
        per_text(spec, o)
        fam = spec.split(":")[0]
        K = a.kgw_null_keys if fam == "kgw" else a.null_keys
        if fam not in nulls:
            t = time.time()
            nulls[fam] = np.concatenate([det(torch.cat([clean, human]), P, k=KEY + 1 + j).p_value for j in range(K)])
            log(f"{fam}: {len(nulls[fam])} random-key nulls in {time.time() - t:.0f} s")
        row = dict(**base, method=spec, **quality(wm), **rates("tpr", o["wm"].p_value),
                   **rates("fpr_unwm", o["unwatermarked"].p_value), **rates("fpr_human", o["human"].p_value),
                   **rates("fpr_randkey", nulls[fam]), null_randkey_n=len(nulls[fam]),
                   median_score=float(np.median(o["wm"].score)), median_score_unwm=float(np.median(o["unwatermarked"].score)),
                   median_scored=float(np.median(o["wm"].num_scored)), p_values="analytic",
                   gen_seconds=round(tg, 1), detect_seconds_per_text=round(td, 3))
        upsert(out / "baselines.csv", row)
        log(f"{spec}: TPR@0.01 {row['tpr_p01']:.2f} @0.001 {row['tpr_p001']:.2f}; FPR unwm {row['fpr_unwm_p01']:.3f} "
            f"human {row['fpr_human_p01']:.3f} randkey {row['fpr_randkey_p01']:.4f}/{row['fpr_randkey_p001']:.4f} "
            f"(n {len(nulls[fam])}); ppl cost {row['ppl_cost']:+.3f}; distinct-2 {row['distinct_2']:.3f}; gen {tg:.0f}s")
        for kind, rate in ATTACKS:
            if kind == "copy_paste":
                x, m = copy_paste(wm, human, rate, P), None
            else:
                x, m, _ = edit_tokens(wm, kind, rate, prompt_len=P, vocab_size=V, seed=7)
            r = det(x, P, m)
            upsert(out / "robust.csv", dict(method=spec, attack=kind, rate=rate, n=a.n, key=f"{spec}|{kind}|{rate}",
                                            tpr_p01=float(np.mean(r.p_value <= 0.01)),
                                            median_p=float(np.median(r.p_value)), command=cmd), key="key")
        log(f"{spec}: robustness done")

    def run_okr(spec):
        key, okr, layers, det = okr_detector(model, spec, a)
        wm, tg = gen(spec, key, okr, layers)
        t, o = time.time(), {}
        per_text = lambda o: okr_text_rows(spec, o).assign(command=cmd)
        prog = out / "progress" / f"{spec.replace(':', '_')}.csv"           # the texts scored so far, as it goes
        prog.parent.mkdir(exist_ok=True)
        def progress(name, done, r):
            per_text({**o, name: r}).to_csv(prog, index=False)
            log(f"{spec}: {name} {done}/{a.n} texts detected, {time.time() - t:.0f} s")
        for name, ids in (("wm", wm), ("unwatermarked", clean), ("human", human)):
            o[name] = detect_in_chunks(det, ids, P, a.detect_chunk, lambda done, r: progress(name, done, r))
        td = (time.time() - t) / (3 * a.n)
        w, cl, hu = o["wm"], o["unwatermarked"], o["human"]
        add_texts(out / "baselines_texts.csv", spec, per_text(o))
        prog.unlink()
        row = dict(**base, method=spec, **quality(wm), **rates("tpr", w.p_value), **rates("fpr_unwm", cl.p_value),
                   **rates("fpr_human", hu.p_value), okr_null_keys=a.okr_null, p_values=f"okr {a.okr_p}",
                   tpr_exact_p01=float(np.mean(w.exact_p_value <= 0.01)),
                   median_score=float(np.nanmedian(w.z_score)), median_score_unwm=float(np.nanmedian(cl.z_score)),
                   median_scored=float(np.median(w.num_tokens_scored)),
                   opportunities_per_token=float(w.num_opportunities.sum() / w.num_tokens_scored.sum()),
                   gen_seconds=round(tg, 1), detect_seconds_per_text=round(td, 3))
        upsert(out / "baselines.csv", row)
        log(f"{spec}: TPR@0.01 {row['tpr_p01']:.2f} (exact {row['tpr_exact_p01']:.2f}); FPR unwm {row['fpr_unwm_p01']:.3f}"
            f" human {row['fpr_human_p01']:.3f}; opp/token {row['opportunities_per_token']:.3f}; ppl cost "
            f"{row['ppl_cost']:+.3f}; gen {tg:.0f}s detect {td:.1f}s/text")

    for spec in a.methods:
        (run_okr if spec.startswith("okr:") else run_baseline)(spec)
    log(f"done in {time.time() - t0:.0f} s")

if __name__ == "__main__":
    main()
