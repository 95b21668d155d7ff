"""OKR detection evaluated side by side with KGW on a trained byte-level MoE: null validity, power by length, quality, robustness.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/okr_detection.py [--layers last] [--rho 0.01] [--n 500] [--null 199] [--robust-n 500]
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/okr_detection.py --kgw-only 1.0 1.5   # KGW alone at extra biases, same prompts/seeds

Prompts are consecutive 32-byte windows of the held-out corpus; from each prompt the model generates 200 bytes with the key
(OKR on `--layers` of `models/moe-small`), 200 bytes without it (same sampling seed), and 200 bytes with KGW
(transformers `WatermarkingConfig`, lefthash, context width 1); the human text is the corpus's own continuation of the prompt.
Lengths 50/100/200 are the first 50/100/200 bytes after the prompt (the prompt is never scored). The OKR detector's p-values
are exact random-key p-values with `--null` keys; KGW's are transformers' normal approximation. KGW's bias is chosen from
`--kgw-biases` as the one whose perplexity cost (generated text under the clean model) is closest to OKR's.
Writes `<out>/<tag>_*.csv` (tag = `<layers>_rho<rho>`) and prints the tables. One thread (`torch.set_num_threads(1)`).
"""
import argparse, json, math, sys, time
from pathlib import Path
import numpy as np
import pandas as pd
import torch
from scipy import stats
from transformers import AutoModelForCausalLM, WatermarkingConfig
from transformers.generation import WatermarkDetector
from transformers.generation.logits_process import WatermarkLogitsProcessor
from transformers.utils import logging as hf_logging
from libortho_nb.lab.corpus import stdlib_corpus, split_corpus, encode_bytes
from libortho_nb.okr import WatermarkKey, OKRSettings, apply_okr, remove_okr, okr_stats, find_routers, key_scores, okr_generate, okr_target
from libortho_nb.detector import OKRDetector, TokenScores, detection_output, scored_tokens, teacher_forced_llr
from libortho_nb.lab.okr_eval import edit_tokens, copy_paste

ROOT = Path(__file__).resolve().parent.parent
ATTACKS = [("substitute", 0.1), ("substitute", 0.3), ("delete", 0.1), ("delete", 0.3), ("insert", 0.1), ("insert", 0.3),
           ("copy_paste", 0.25), ("copy_paste", 0.5)]

def log(*a): print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)

def batched(fn, ids, bs):
    return torch.cat([fn(ids[i:i + bs], i) for i in range(0, len(ids), bs)])

@torch.no_grad()
def gen_nll(model, ids, P):
    "Per-row NLL (nats) of every generated token `[B, T - P]` under the clean model."
    lp = model(input_ids=ids).logits[:, P - 1:-1].float().log_softmax(-1)
    return -lp.gather(2, ids[:, P:, None])[..., 0]

def distinct(ids, P, L, n):
    "Mean over rows of distinct n-grams / n-grams in the first L generated tokens."
    w = ids[:, P:P + L].unfold(1, n, 1)
    return float(np.mean([len(set(map(tuple, r.tolist()))) / r.shape[0] for r in w]))

def text_quality(model, ids, P, bs, nll_ref=None):
    "Per-token NLL `[B, T - P]` of `ids`' generated tokens under the clean `model`, and their perplexity, cost against `nll_ref` (None: `ids` are the reference) and distinct-2."
    nll = batched(lambda x, i: gen_nll(model, x, P), ids, bs)
    ref = nll if nll_ref is None else nll_ref
    return nll, dict(ppl=math.exp(float(nll.mean())), ppl_cost=math.exp(float(nll.mean() - ref.mean())) - 1,
                     distinct_2=distinct(ids, P, ids.shape[1] - P, 2))

def reference_rows(model, clean, human, P, bs, base):
    "NLL of the unwatermarked texts and the rows of the two references, unwatermarked and human: `text_quality` each against the unwatermarked texts."
    nll_c, q = text_quality(model, clean, P, bs)
    rows = [dict(**base, method="unwatermarked", **q),
            dict(**base, method="human", **text_quality(model, human, P, bs, nll_c)[1])]
    return nll_c, rows

def kgw_detector(model, wc):
    cfg = model.config.__class__.from_dict(model.config.to_dict())
    cfg.bos_token_id = cfg.vocab_size        # transformers' detector compares ids to bos_token_id and fails on None; no byte equals 256
    return WatermarkDetector(cfg, "cpu", wc, ignore_repeated_ngrams=True)

def kgw_scores(det, ids, P, am=None):
    "KGW z and p per row on the text after the prompt (the last prompt token seeds the first green list)."
    if am is None:
        o = det(ids[:, P - 1:], return_dict=True); return o.z_score, o.p_value, o.num_tokens_scored
    rows = [det(r[P - 1:int(m.sum())][None], return_dict=True) for r, m in zip(ids, am)]
    return (np.concatenate([o.z_score for o in rows]), np.concatenate([o.p_value for o in rows]), np.concatenate([o.num_tokens_scored for o in rows]))

def green_table(wc, V):
    "Bool `[V, V]`: is token b green after token a (lefthash, context width 1)."
    proc = WatermarkLogitsProcessor(vocab_size=V, device="cpu", **wc.to_dict())
    G = torch.zeros(V, V, dtype=torch.bool)
    for a in range(V): G[a, proc._get_greenlist_ids(torch.tensor([a]))] = True
    return G

@torch.no_grad()
def router_inputs(model, ids):
    "Router input hidden states of every MoE layer `[layers, B, T, H]` on a clean forward."
    seen = []
    hooks = [r.register_forward_pre_hook(lambda m, a: seen.append(a[0].reshape(*ids.shape, -1))) for r in find_routers(model).values()]
    try: model(input_ids=ids)
    finally:
        for h in hooks: h.remove()
    return torch.stack(seen)

def kgw_only(a, model, prompts, human, tag, out, t0):
    "KGW alone at extra biases, on the same prompts and seeds as the full run: TPR by length and perplexity cost."
    P, Lmax = a.prompt, max(a.lengths)
    gen = lambda **kw: batched(lambda p, i: okr_generate(model, None, p, Lmax, seed=a.seed + i, **kw), prompts, a.batch)
    clean = gen(); nll_c = batched(lambda x, i: gen_nll(model, x, P), clean, a.batch); rows = []
    for b in a.kgw_only:
        wc = WatermarkingConfig(bias=b, greenlist_ratio=0.25, seeding_scheme="lefthash"); kdet = kgw_detector(model, wc)
        kg = gen(watermarking_config=wc); nll_k = batched(lambda x, i: gen_nll(model, x, P), kg, a.batch)
        for L in a.lengths:
            zk, pk, _ = kgw_scores(kdet, kg[:, :P + L], P)
            znul = np.concatenate([kgw_scores(kdet, t[:, :P + L], P)[0] for t in (clean, human)])
            pnul = np.concatenate([kgw_scores(kdet, t[:, :P + L], P)[1] for t in (clean, human)])
            rows.append(dict(bias=b, length=L, n=len(kg), ppl_cost=math.exp(float(nll_k[:, :L].mean() - nll_c[:, :L].mean())) - 1,
                             tpr_p01=float((pk <= 0.01).mean()), fpr_p01=float((pnul <= 0.01).mean()),
                             tpr_at_1pct_empirical_fpr=float((zk > np.quantile(znul, 0.99)).mean()), median_z=float(np.median(zk))))
        log(f"KGW bias {b} done")
    df = pd.DataFrame(rows); df.to_csv(out / f"{tag}_kgw_extra.csv", index=False)
    log(f"KGW at extra biases (null: unwatermarked + human):\n{df.round(4)}\ndone in {time.time() - t0:.0f} s")

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "moe-small"))
    ap.add_argument("--out", default=str(ROOT / "results" / "okr_detection"))
    ap.add_argument("--n", type=int, default=500, help="texts per class")
    ap.add_argument("--null", type=int, default=199, help="null keys M")
    ap.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 200])
    ap.add_argument("--prompt", type=int, default=32)
    ap.add_argument("--layers", default="last", choices=["all", "last"])
    ap.add_argument("--rule", default="boundary"); ap.add_argument("--rho", type=float, default=0.01)
    ap.add_argument("--dead-zone", type=float, default=0.1); ap.add_argument("--key-seed", type=int, default=2026)
    ap.add_argument("--kgw-biases", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0, 1.5, 2.0])
    ap.add_argument("--kgw-calib-n", type=int, default=200, help="texts per bias to measure KGW's perplexity cost")
    ap.add_argument("--robust-n", type=int, default=500, help="watermarked texts attacked")
    ap.add_argument("--batch", type=int, default=32); ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tag", default=None)
    ap.add_argument("--kgw-only", type=float, nargs="+", default=None, metavar="BIAS",
                    help="only KGW: generate and score the n texts at each of these biases (TPR by length, perplexity cost); writes <tag>_kgw_extra.csv")
    a = ap.parse_args()
    torch.set_num_threads(1); hf_logging.set_verbosity_error()
    tag = a.tag or f"{a.layers}_rho{a.rho:g}"
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    t0 = time.time()
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).eval()
    cfg = model.config; V, P, Lmax = cfg.vocab_size, a.prompt, max(a.lengths)
    key = WatermarkKey.from_seed(a.key_seed, cfg.hidden_size, cfg.num_local_experts)
    okr = OKRSettings(a.rule, a.rho, a.dead_zone)
    held = encode_bytes(split_corpus(stdlib_corpus())[1]).long()
    W = P + Lmax
    if len(held) < a.n * W: raise ValueError(f"{a.n} texts of {W} bytes need {a.n * W} held-out bytes, the corpus has {len(held)}")
    human = held[:a.n * W].view(a.n, W)                                                   # [n, P + Lmax] consecutive windows
    prompts = human[:, :P]
    log(f"{a.n} prompts; OKR {a.layers} layers {okr}; M={a.null}; key {key.fingerprint[:16]}")

    if a.kgw_only: return kgw_only(a, model, prompts, human, tag, out, t0)

    # ---- generation
    gen = lambda k, **kw: batched(lambda p, i: okr_generate(model, k, p, Lmax, okr, layers=a.layers, seed=a.seed + i, **kw), prompts, a.batch)
    clean = gen(None); log("clean generated")
    wm = gen(key); log("OKR generated")
    nll = {"clean": batched(lambda x, i: gen_nll(model, x, P), clean, a.batch), "okr": batched(lambda x, i: gen_nll(model, x, P), wm, a.batch)}

    # ---- KGW: perplexity cost by bias, on the first kgw_calib_n prompts
    nc = min(a.kgw_calib_n, a.n)
    cal = []
    for b in a.kgw_biases:
        wc = WatermarkingConfig(bias=b, greenlist_ratio=0.25, seeding_scheme="lefthash")
        kg = batched(lambda p, i: okr_generate(model, None, p, Lmax, seed=a.seed + i, watermarking_config=wc), prompts[:nc], a.batch)
        cal.append(dict(bias=b, n=nc, nll=float(batched(lambda x, i: gen_nll(model, x, P), kg, a.batch).mean())))
    cal = pd.DataFrame(cal)
    base = float(nll["clean"][:nc].mean()); okr_cost = math.exp(float(nll["okr"][:nc].mean()) - base) - 1
    cal["ppl_cost"] = np.exp(cal.nll - base) - 1
    bias = float(cal.bias[(cal.ppl_cost - okr_cost).abs().idxmin()])
    cal["okr_ppl_cost_same_prompts"] = okr_cost; cal["chosen"] = cal.bias == bias
    cal.to_csv(out / f"{tag}_kgw_calibration.csv", index=False); log(f"KGW calibration (OKR cost {100 * okr_cost:+.2f}% on the same {nc} prompts):\n{cal.round(4)}")
    wc = WatermarkingConfig(bias=bias, greenlist_ratio=0.25, seeding_scheme="lefthash")
    kgw = batched(lambda p, i: okr_generate(model, None, p, Lmax, seed=a.seed + i, watermarking_config=wc), prompts, a.batch)
    nll["kgw"] = batched(lambda x, i: gen_nll(model, x, P), kgw, a.batch); log(f"KGW generated at bias {bias}")

    # ---- quality
    target = okr_target(model, a.layers)
    apply_okr(target, key, okr)
    with torch.no_grad():
        for i in range(0, a.n, a.batch): model(input_ids=wm[i:i + a.batch])
    st = okr_stats(model if a.layers == "all" else target).sum(); remove_okr(target)
    q = []
    for name, ids in (("clean", clean), ("okr", wm), ("kgw", kgw), ("human", human)):
        if name == "human": nl = batched(lambda x, i: gen_nll(model, x, P), human, a.batch)
        else: nl = nll[name]
        for L in a.lengths:
            q.append(dict(text=name, length=L, ppl=math.exp(float(nl[:, :L].mean())), **{f"distinct_{n}": distinct(ids, P, L, n) for n in (2, 4, 8)}))
    q = pd.DataFrame(q)
    q["ppl_ratio_vs_clean"] = q.ppl / q.merge(q[q.text == "clean"][["length", "ppl"]], on="length", suffixes=("", "_c")).ppl_c
    q["okr_changed_per_decision"] = float(st.changed / st.tokens); q["okr_changed_per_token"] = float(st.changed) / (a.n * W)
    q["kgw_bias"] = bias
    q.to_csv(out / f"{tag}_quality.csv", index=False); log(f"quality:\n{q.round(4)}")

    # ---- detection by length
    det = OKRDetector(model, key, okr, layers=a.layers, n_null=a.null, batch_size=a.batch)
    kdet = kgw_detector(model, wc)
    rows = []
    for name, ids in (("watermarked", wm), ("unwatermarked", clean), ("human", human), ("kgw_watermarked", kgw)):
        if name != "kgw_watermarked": ts = det.token_scores(ids, prompt_len=P)             # OKR's null: unwatermarked and human texts
        for L in a.lengths:
            z, p, nk = kgw_scores(kdet, ids[:, :P + L], P)
            r = dict(text=name, length=L, idx=np.arange(a.n), kgw_tokens=nk, kgw_z=z, kgw_p=p)
            if name != "kgw_watermarked":
                o = detection_output(TokenScores(*(t[..., :P + L] for t in ts)), det.statistic)
                ol = detection_output(TokenScores(*(t[..., :P + L] for t in ts)), "llr")
                r.update(okr_tokens=o.num_tokens_scored, okr_opportunities=o.num_opportunities, okr_score=o.score, okr_z=o.z_score, okr_p=o.p_value, okr_analytic_p=o.analytic_p_value,
                         okrllr_z=ol.z_score, okrllr_p=ol.p_value)
            rows.append(pd.DataFrame(r))
        log(f"detected {name}")
    d = pd.concat(rows); d.to_csv(out / f"{tag}_detection.csv", index=False)

    summ = []
    for L in a.lengths:
        x = d[d.length == L]
        null_okr = x[x.text.isin(["unwatermarked", "human"])]; null_kgw = x[x.text.isin(["unwatermarked", "human", "watermarked"])]
        r = dict(length=L)
        for m, pos, nul in (("okr", "watermarked", null_okr), ("kgw", "kgw_watermarked", null_kgw)):
            thr_z = np.quantile(nul[f"{m}_z"].fillna(-np.inf), 0.99)
            r[f"{m}_fpr_p01"] = float((nul[f"{m}_p"] <= 0.01).mean())
            for t in ("unwatermarked", "human"): r[f"{m}_fpr_p01_{t}"] = float((x[x.text == t][f"{m}_p"] <= 0.01).mean())
            r[f"{m}_ks_p"] = float(stats.kstest(nul[f"{m}_p"], "uniform").pvalue)
            r[f"{m}_tpr_p01"] = float((x[x.text == pos][f"{m}_p"] <= 0.01).mean())
            r[f"{m}_tpr_at_1pct_empirical_fpr"] = float((x[x.text == pos][f"{m}_z"] > thr_z).mean())
            r[f"{m}_median_z"] = float(x[x.text == pos][f"{m}_z"].median())
        summ.append(r)
    summ = pd.DataFrame(summ); summ.to_csv(out / f"{tag}_summary.csv", index=False)
    log(f"detection summary (null texts: OKR unwatermarked + human; KGW unwatermarked + human + OKR-watermarked):\n{summ.round(4).T}")

    # ---- robustness on the first robust_n watermarked texts (longest length)
    nr = min(a.robust_n, a.n); rob = []
    for m, ids in ((("okr", wm[:nr]), ("kgw", kgw[:nr])) if nr > 0 else ()):
        for kind, rate in [("none", 0.0), *ATTACKS]:
            if kind == "none": e, am = ids, None
            elif kind == "copy_paste": e, am = copy_paste(ids, human[:nr], rate, P), None
            else: e, am, _ = edit_tokens(ids, kind, rate, P, V, seed=7)
            ap = np.full(nr, np.nan)
            if m == "okr": o = det(e, am, prompt_len=P); z, p, ap = o.z_score, o.p_value, o.analytic_p_value
            else: z, p, _ = kgw_scores(kdet, e, P, am)
            rob.append(dict(method=m, attack=kind, rate=rate, n=nr, tpr_p01=float((p <= 0.01).mean()), median_z=float(np.median(z)),
                            tpr_analytic_p01=float((ap <= 0.01).mean()) if m == "okr" else np.nan))
        log(f"robustness {m} done")
    if nr == 0:
        (out / f"{tag}_config.json").write_text(json.dumps(dict(vars(a), kgw_bias=bias, seconds=round(time.time() - t0)), indent=1))
        return log(f"--robust-n 0: robustness and proxy skipped; done in {time.time() - t0:.0f} s")
    rob = pd.DataFrame(rob); rob.to_csv(out / f"{tag}_robustness.csv", index=False)
    log(f"robustness (TPR at p <= 0.01, length {Lmax}):\n{rob.pivot(index=['attack', 'rate'], columns='method', values='tpr_p01').round(3)}")

    # ---- the paraphrase proxy: does the key's preferred expert / the KGW green bit survive small edits?
    G = green_table(wc, V); prox = []
    base_x = router_inputs(model, human[:nr])                                             # [layers, B, T, H]
    pref = lambda x: key_scores(x.reshape(-1, x.shape[-1]), key.weight).argmax(-1).view(x.shape[:-1])
    p0 = pref(base_x); g0 = G[human[:nr, :-1], human[:nr, 1:]]
    for rate in (0.01, 0.1, 0.3):
        e, _, mark = edit_tokens(human[:nr], "substitute", rate, P, V, seed=11)
        p1 = pref(router_inputs(model, e)); g1 = G[e[:, :-1], e[:, 1:]]
        keep = ~mark; keep[:, :P] = False                                                 # unedited positions after the prompt
        prox.append(dict(rate=rate, okr_last_layer=float((p0[-1] == p1[-1])[keep].float().mean()),
                         okr_all_layers=float((p0 == p1)[:, keep].float().mean()),
                         kgw_green=float((g0 == g1)[keep[:, 1:]].float().mean()), chance_okr=1 / cfg.num_local_experts))
    prox = pd.DataFrame(prox); prox.to_csv(out / f"{tag}_proxy.csv", index=False)
    log(f"proxy stability on {nr} human texts, unedited positions after 'substitute' edits:\n{prox.round(4)}")
    (out / f"{tag}_config.json").write_text(json.dumps(dict(vars(a), kgw_bias=bias, seconds=round(time.time() - t0)), indent=1))
    log(f"done in {time.time() - t0:.0f} s")

if __name__ == "__main__": main()
