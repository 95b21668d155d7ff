"""The utility table on a real pretrained model (issue 13): SmolLM2-135M-Instruct, held-out perplexity on Wikipedia and on
news text (libortho_nb.lab.real), for the dense model, INT4 round-to-nearest grids, GPTQ, and LibOrtho's two modes at
several Ortho sparsities, selectors and both ends of the dial.

    OMP_NUM_THREADS=1 python benchmarks/real_utility.py [--grid core|full] [--only NAME,...]

Writes results/real/utility.csv, one row per (configuration, alpha), appending; rerunning skips the rows already there
(resumable). Timings go to results/real/utility.log.

How each row is made: every linear layer of the 30 blocks (not the tied embeddings / lm_head) is converted from the
dense model cast to bfloat16, so scales, zero points and Ortho values are stored in bfloat16 and `bits` is what those
buffers hold (packed nibbles incl. the padding of a last partial group, scales, zeros, CSR values, column indices, row
pointers) divided by the converted layers' parameters. The converted model is then cast to float32 for evaluation
(exact: bfloat16 -> float32 loses nothing), so rows differ only by their stored weights. `bits_base` is the Base stream
alone (what alpha=0 reads). Selection scores and GPTQ Hessians come from 16 x 256 calibration tokens of the Wikipedia
calibration split (first 75 % of the articles); perplexity is on 8 x 256 tokens of each corpus's held-out split
(8 x 256, not more: one evaluation of both corpora takes about a minute on one shared core).

Grid artifact: the GGUF stored the weights on the Q4_1 grid (blocks of 32, asymmetric), so `rtn asym g32` reproduces
them (to float rounding; bfloat16 scales then round that grid) and is not a measure of quantization quality.
"""
import argparse, copy, csv, math, sys, time
from pathlib import Path
import torch
from transformers.utils import logging as hf_logging

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "real" / "utility.csv"
FIELDS = ["name", "quantizer", "selector", "mode", "sparsity", "group_size", "asymmetric", "clip_search", "alpha",
          "bits", "bits_base", "nnz", "ppl_wiki", "ppl_lee", "convert_s"]


def configs(grid):
    "The rows to measure, in the order they are run: the comparisons the goals need first, then the rest of the grid."
    rtn = lambda gs, asym, clip: dict(quantizer="rtn", group_size=gs, asymmetric=asym, clip_search=clip)
    gptq = lambda gs, asym, clip, **kw: dict(quantizer="gptq", group_size=gs, asymmetric=asym, clip_search=clip, **kw)
    base = dict(group_size=96, asymmetric=True, clip_search=True)    # the Base grid of the LibOrtho rows (see NOTE)
    ortho = lambda sel, mode, s, q="rtn": dict(quantizer=q, selector=sel, mode=mode, sparsity=s, **base)
    rows = [dict(quantizer="dense", dtype="float32"),
            rtn(128, False, False), rtn(128, True, True), rtn(96, True, True), rtn(32, True, False), rtn(64, True, True),
            gptq(96, True, True), ortho("gptq", "residual", 0.01, "gptq"), gptq(64, True, True),
            ortho("activation", "residual", 0.01), ortho("activation", "residual", 0.005),
            ortho("activation", "outlier", 0.01), ortho("magnitude", "residual", 0.01),
            ortho("random", "residual", 0.01), ortho("activation", "residual", 0.02),
            ortho("gptq", "residual", 0.005, "gptq"), ortho("fisher", "residual", 0.01),
            ortho("magnitude", "outlier", 0.01), ortho("fisher", "outlier", 0.01),
            # GPTQ at the RTN settings, then the other rows the issue names
            gptq(128, False, False), gptq(128, True, False), gptq(32, True, False),
            rtn(128, True, False), rtn(64, False, False), dict(quantizer="dense", dtype="bfloat16"),
            ortho("random", "outlier", 0.01), ortho("gptq", "residual", 0.02, "gptq"),
            ortho("activation", "outlier", 0.005), ortho("activation", "outlier", 0.02),
            rtn(64, True, False), rtn(32, True, True)]
    if grid == "full":
        rows += [ortho(sel, mode, s) for sel in ("magnitude", "fisher", "random") for mode in ("residual", "outlier")
                 for s in (0.005, 0.02)]
    return rows


def name_of(c):
    if c["quantizer"] == "dense": return f"dense {c['dtype']}"
    grid = f"{'asym' if c['asymmetric'] else 'sym'} g{c['group_size']}{' clip' if c['clip_search'] else ''}"
    if "selector" not in c: return f"{c['quantizer']} {grid}"
    return f"{c['quantizer']} {grid} + {c['sparsity']:.1%} {c['mode']} ({c['selector']})"


def bits_of(model):
    "(all streams, Base alone, nnz) in bits per parameter of the converted layers."
    from libortho_nb.engine import ortho_layers
    layers = ortho_layers(model).values()
    n = sum(l.in_features * l.out_features for l in layers)
    total = sum(l.base.nbytes + l.ortho.nbytes for l in layers)
    base = sum(l.base.nbytes for l in layers)
    return 8 * total / n, 8 * base / n, sum(l.nnz for l in layers)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", choices=("core", "full"), default="core")
    p.add_argument("--only", default="", help="comma-separated substrings: measure only rows whose name has one")
    p.add_argument("--names", default="", help="';'-separated exact row names: measure only these")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--list", action="store_true", help="print the rows and exit")
    a = p.parse_args(argv)
    todo = configs(a.grid)
    if a.only: todo = [c for c in todo if any(s in name_of(c) for s in a.only.split(","))]
    if a.names: todo = [c for c in todo if name_of(c) in a.names.split(";")]
    if a.list:
        for c in todo: print(name_of(c))
        return
    torch.set_num_threads(1)
    hf_logging.set_verbosity_error()
    from libortho_nb.engine import convert, selection, set_alpha
    from libortho_nb.lab.real import load_smollm2, perplexity, real_text, token_batches
    a.out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if a.out.exists():
        with open(a.out) as f: done = {(r["name"], float(r["alpha"])) for r in csv.DictReader(f)}
    log = open(a.out.with_suffix(".log"), "a")
    def say(*x):
        msg = " ".join(str(v) for v in x); print(msg, flush=True); log.write(msg + "\n"); log.flush()
    dense, tok = load_smollm2(progress=False)
    evals = {c: token_batches(tok, real_text(c, "test"), 8, 256) for c in ("wiki", "lee")}
    calib = [token_batches(tok, real_text("wiki", "calib"), 16, 256)]
    cache = {}
    say(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} grid={a.grid} rows={len(todo)} threads={torch.get_num_threads()}")
    new = not a.out.exists()
    with open(a.out, "a", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        if new: w.writeheader()
        for c in todo:
            name = name_of(c)
            alphas = (1.0,) if "selector" not in c else (1.0, 0.0)
            if all((name, al) in done for al in alphas): continue
            t0 = time.time()
            if c["quantizer"] == "dense":
                m = dense if c["dtype"] == "float32" else copy.deepcopy(dense).to(torch.bfloat16).float()
                bits = (32.0 if c["dtype"] == "float32" else 16.0,) * 2 + (0,)
            else:
                sel = c.get("selector")
                if sel not in (None, "gptq") and sel not in cache:
                    ts = time.time()
                    cache[sel] = selection(dense, sel, calib if sel in ("activation", "fisher") else None,
                                           progress=False)
                    say(f"selection {sel}: {time.time() - ts:.0f} s")
                m = copy.deepcopy(dense).to(torch.bfloat16)
                kw = dict(group_size=c["group_size"], asymmetric=c["asymmetric"], clip_search=c["clip_search"],
                          progress=False)
                if c["quantizer"] == "gptq":
                    from libortho_nb.gptq import gptq_compress, hessians
                    if "H" not in cache:
                        ts = time.time()
                        cache["H"] = hessians(dense, calib, progress=False)
                        say(f"hessians: {time.time() - ts:.0f} s")
                    gptq_compress(m, cache["H"], sparsity=c.get("sparsity", 0.0), **kw)
                elif sel is None: convert(m, 0.0, **kw)
                else:
                    h, scores = cache[sel]
                    convert(m, c["sparsity"], h, c["mode"], method=sel, scores=scores, **kw)
                bits = bits_of(m)
                m = torch.nn.Module.float(m)                     # transformers refuses .float() on quantized models
            conv_s = time.time() - t0
            for al in alphas:
                if (name, al) in done: continue
                if "selector" in c: set_alpha(m, al)
                te = time.time()
                ppl = {k: perplexity(m, v) for k, v in evals.items()}
                row = dict(name=name, quantizer=c["quantizer"], selector=c.get("selector", ""), mode=c.get("mode", ""),
                           sparsity=c.get("sparsity", 0.0), group_size=c.get("group_size", ""),
                           asymmetric=c.get("asymmetric", ""), clip_search=c.get("clip_search", ""), alpha=al,
                           bits=round(bits[0], 4), bits_base=round(bits[1], 4), nnz=bits[2],
                           ppl_wiki=round(ppl["wiki"], 4), ppl_lee=round(ppl["lee"], 4), convert_s=round(conv_s, 1))
                w.writerow(row); f.flush()
                say(f"{name} alpha={al:g}: bits {bits[0]:.3f} wiki {ppl['wiki']:.3f} lee {ppl['lee']:.3f} "
                    f"(convert {conv_s:.0f} s, eval {time.time() - te:.0f} s)")
            del m


if __name__ == "__main__":
    main()
