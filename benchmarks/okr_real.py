"""OKR on a real MoE (SmolLM2-135M MoEfied into Qwen2-MoE, `lab.real_moe`) at 200 generated BPE tokens, with KGW beside it.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/okr_real.py [--n 16] [--null 99] [--configs last:boundary:0.9 ...] [--kgw 1.0 2.0]

Prompts are the first `--prompt` tokens of consecutive windows of the Wikipedia sample's held-out split (never seen by the
routers' calibration); the human text is each window's own continuation. From each prompt the MoE samples `--new` tokens
(temperature 1, no top-k/top-p) without a watermark, with OKR for each configuration `layers:rule:rho` (same sampling seeds),
and with KGW (transformers `WatermarkingConfig`, lefthash, greenlist 0.25) at each `--kgw` bias. OKR p-values are the
detector's exact random-key p-values (`--null` keys; floor 1/(M+1)) and its fitted-normal tail p-values; the null rows are the
same detector on the unwatermarked and the human texts. Perplexity cost: the clean MoE's perplexity of each text's generated
tokens over that of the unwatermarked texts. The MoE routes top-1, so rules "boundary" and "max" give the same safe set
(the k-th largest score is the largest). Opportunities: scored tokens whose last keyed layer offered the key a choice.
Writes `<out>/summary.csv` (one row per method, appended as each finishes), `<out>/texts.csv` (per text p-values) and
`<out>/speed.csv` (generation tokens/s). One torch thread. On a shared 2-core machine one last-layer configuration takes
~13 min at the defaults (generation ~15 tokens/s at batch 16; detection ~8 s per text with 99 null keys); the all-layer
detection runs one forward per null key and is the slowest by far.
"""
import argparse, sys, time
from pathlib import Path
import numpy as np
import pandas as pd
import torch
from transformers import WatermarkingConfig
from transformers.generation import WatermarkDetector
from transformers.utils import logging as hf_logging
from libortho_nb.okr import WatermarkKey, OKRSettings, okr_generate
from libortho_nb.detector import OKRDetector
from libortho_nb.lab.real import real_text, token_batches, load_smollm2, perplexity
from libortho_nb.lab.real_moe import MoEficationSettings, load_moe, moe_name, router_stats
from okr_detection import log, batched, text_quality, reference_rows   # benchmarks/ is on the path when a script there runs

ROOT = Path(__file__).resolve().parent.parent

ROWS = []
def summary(path, row):
    "Add `row` to the summary and rewrite the whole CSV (rows differ in their columns)."
    ROWS.append(row)
    pd.DataFrame(ROWS).to_csv(path, index=False)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "results" / "okr_real"))
    ap.add_argument("--n", type=int, default=16, help="texts per class")
    ap.add_argument("--null", type=int, default=99, help="null keys M for last-layer detection")
    ap.add_argument("--null-all", type=int, default=9, help="null keys for all-layer detection (one forward per key)")
    ap.add_argument("--prompt", type=int, default=32); ap.add_argument("--new", type=int, default=200)
    ap.add_argument("--configs", nargs="+", default=["last:boundary:0.9", "last:max:0.9", "last:boundary:0.5",
                                                    "last:max:0.5", "all:boundary:0.5"])
    ap.add_argument("--dead-zone", type=float, default=0.1); ap.add_argument("--key-seed", type=int, default=2026)
    ap.add_argument("--kgw", type=float, nargs="*", default=[1.0, 2.0])
    ap.add_argument("--batch", type=int, default=16); ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(1); hf_logging.set_verbosity_error()
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    cmd = " ".join(["python", *sys.argv]); print("command:", cmd)
    t0 = time.time()
    ms = MoEficationSettings()
    model, tok = load_moe(ms)
    P, N = a.prompt, a.new
    if not (out / "moe.csv").exists():                          # the MoE itself: held-out perplexity, routers
        held = token_batches(tok, real_text("wiki", "test"), 8, 512)
        dense = load_smollm2()[0]
        pd_, pm = perplexity(dense, held), perplexity(model, held)
        del dense
        margins, load = router_stats(model, held[:4])
        m = margins.join(load.add_prefix("load_"))
        m.insert(0, "ppl_ratio", pm / pd_); m.insert(0, "ppl_moe", pm); m.insert(0, "ppl_smollm2", pd_)
        m.index.name = "layer"
        m.assign(model=moe_name(ms), held_out="wiki test 8 x 512", command=cmd).to_csv(out / "moe.csv")
        log(f"held-out perplexity SmolLM2 {pd_:.3f}, MoE {pm:.3f} ({pm / pd_ - 1:+.1%}); routers:\n{m.round(3)}")
    human = token_batches(tok, real_text("wiki", "test"), a.n, P + N)                  # [n, P + N]
    prompts = human[:, :P]
    key = WatermarkKey.from_seed(a.key_seed, model.config.hidden_size, model.config.num_experts)
    base = dict(model=moe_name(ms), n=a.n, prompt=P, new_tokens=N, command=cmd)
    log(f"{a.n} prompts of {P} tokens, {N} new; model {moe_name(ms)}; key {key.fingerprint[:16]}")

    def gen(k=None, okr=None, layers="last", **kw):
        return batched(lambda p, i: okr_generate(model, k, p, N, okr, layers=layers, seed=a.seed + i, **kw),
                       prompts, a.batch)

    t = time.time(); clean = gen(); dt = time.time() - t
    pd.DataFrame([dict(**base, what="clean generation", batch=a.batch, seconds=round(dt, 1),
                                   tokens_per_s=round(a.n * N / dt, 1))]).to_csv(out / "speed.csv", index=False)
    log(f"clean generated: {a.n * N / dt:.1f} tokens/s (batch {a.batch}, one thread)")
    nll_c, refs = reference_rows(model, clean, human, P, a.batch, base)
    for r in refs: summary(out / "summary.csv", r)

    def run_okr(c):
        layers, rule, rho = c.split(":")
        okr = OKRSettings(rule, float(rho), a.dead_zone)
        t = time.time(); wm = gen(key, okr, layers); tg = time.time() - t
        q = text_quality(model, wm, P, a.batch, nll_c)[1]
        M = a.null if layers == "last" else a.null_all
        det = OKRDetector(model, key, okr, layers=layers, n_null=M, batch_size=a.batch)
        t = time.time(); o = {name: det(ids, prompt_len=P) for name, ids in (("okr", wm), ("unwatermarked", clean),
                                                                               ("human", human))}
        td = time.time() - t
        for name, r in o.items():
            pd.DataFrame(dict(config=c, text=name, idx=np.arange(a.n), scored=r.num_tokens_scored,
                              opportunities=r.num_opportunities, z=r.z_score, p_exact=r.exact_p_value,
                              p_tail=r.tail_p_value)).to_csv(out / "texts.csv", mode="a",
                                                             header=not (out / "texts.csv").exists(), index=False)
        w, cl, hu = o["okr"], o["unwatermarked"], o["human"]
        summary(out / "summary.csv", dict(
            **base, method=f"okr {c}", null_keys=M, **q,
            tpr_p01_exact=float((w.exact_p_value <= 0.01).mean()), tpr_p01_tail=float((w.tail_p_value <= 0.01).mean()),
            fpr_p01_exact_unwm=float((cl.exact_p_value <= 0.01).mean()), fpr_p01_exact_human=float((hu.exact_p_value <= 0.01).mean()),
            fpr_p01_tail_unwm=float((cl.tail_p_value <= 0.01).mean()), fpr_p01_tail_human=float((hu.tail_p_value <= 0.01).mean()),
            median_z=float(np.nanmedian(w.z_score)), median_z_unwm=float(np.nanmedian(cl.z_score)),
            median_z_human=float(np.nanmedian(hu.z_score)),
            opportunities_per_token=float(w.num_opportunities.sum() / w.num_tokens_scored.sum()),
            gen_seconds=round(tg, 1), detect_seconds_per_text=round(td / (3 * a.n), 2)))
        log(f"OKR {c}: TPR@p<=0.01 exact {np.mean(w.exact_p_value <= 0.01):.2f} tail {np.mean(w.tail_p_value <= 0.01):.2f}; "
            f"FPR unwm {np.mean(cl.exact_p_value <= 0.01):.2f} human {np.mean(hu.exact_p_value <= 0.01):.2f}; "
            f"opp/token {w.num_opportunities.sum() / w.num_tokens_scored.sum():.3f}; ppl cost {q['ppl_cost']:+.3f}; "
            f"gen {tg:.0f}s detect {td:.0f}s")

    def run_kgw(b):
        wc = WatermarkingConfig(bias=b, greenlist_ratio=0.25, seeding_scheme="lefthash")
        kg = gen(watermarking_config=wc)
        q = text_quality(model, kg, P, a.batch, nll_c)[1]
        kdet = WatermarkDetector(model.config, "cpu", wc, ignore_repeated_ngrams=True)
        o = {name: kdet(ids[:, P - 1:], return_dict=True) for name, ids in (("kgw", kg), ("unwatermarked", clean),
                                                                            ("human", human))}
        summary(out / "summary.csv", dict(
            **base, method=f"kgw bias {b}", **q,
            tpr_p01_exact=float((o["kgw"].p_value <= 0.01).mean()),
            fpr_p01_exact_unwm=float((o["unwatermarked"].p_value <= 0.01).mean()),
            fpr_p01_exact_human=float((o["human"].p_value <= 0.01).mean()), median_z=float(np.median(o["kgw"].z_score)),
            median_z_unwm=float(np.median(o["unwatermarked"].z_score)), median_z_human=float(np.median(o["human"].z_score))))
        log(f"KGW bias {b}: TPR@p<=0.01 {np.mean(o['kgw'].p_value <= 0.01):.2f}; ppl cost {q['ppl_cost']:+.3f}")
    if (out / "texts.csv").exists(): (out / "texts.csv").unlink()
    for c in [c for c in a.configs if c.startswith("last:")]: run_okr(c)
    for b in a.kgw: run_kgw(b)                     # before the all-layer configs, whose detection is the slowest
    for c in [c for c in a.configs if not c.startswith("last:")]: run_okr(c)
    log(f"done in {time.time() - t0:.0f} s")

if __name__ == "__main__":
    main()
