"""LibOrtho on the experts of `models/moe-small`: share of parameters converted, bits/param, held-out perplexity, OKR.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/moe_experts.py [--calib 32] [--eval-bytes 32768] [--okr-n 64]

Three models side by side in one run: the dense model, `compress` with the experts skipped (what `compress` did before
experts were converted: attention only), and `compress` with the experts (activation, residual, sparsity 1%,
group size `--group-size`, default 32: moe-small's widths 96 and 192 are
multiples of 32, while groups of 128 would pad every 96-wide row to 128 columns). Calibration: `--calib` windows of 256 bytes from the corpus's train split; perplexity: bytes per held-out
byte (2 ** bits/byte) over the first `--eval-bytes` of the held-out split, at alpha 0 and 1. OKR: `--okr-n` held-out
32-byte prompts, 200 bytes generated with the key (last MoE layer) and without it, scored by `OKRDetector` built on the
same model (`--null` random keys); detection rate = share of texts with p <= 0.01,
and the median z-scores of keyed and clean texts (a less noisy comparison across models than the rate). Writes results/moe_experts/moe_small.csv.
"""
import argparse, copy, time, warnings
from pathlib import Path
import pandas as pd
import torch
from transformers import AutoModelForCausalLM
from transformers.utils import logging as hf_logging
from libortho_nb.engine import compress, alpha
from libortho_nb.experts import param_summary
from libortho_nb.okr import WatermarkKey, OKRSettings, okr_generate
from libortho_nb.detector import OKRDetector
from libortho_nb.lab.corpus import stdlib_corpus, split_corpus, encode_bytes
from libortho_nb.lab.training import bits_per_byte

ROOT = Path(__file__).resolve().parent.parent

def log(*a): print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--calib", type=int, default=32)
    p.add_argument("--eval-bytes", type=int, default=32768)
    p.add_argument("--okr-n", type=int, default=64)
    p.add_argument("--new", type=int, default=200)
    p.add_argument("--null", type=int, default=99)
    p.add_argument("--group-size", type=int, default=32)
    p.add_argument("--out", default=str(ROOT / "results" / "moe_experts" / "moe_small.csv"))
    a = p.parse_args()
    torch.set_num_threads(1); hf_logging.set_verbosity_error()
    train, held = split_corpus(stdlib_corpus())
    stream = encode_bytes(train)
    g = torch.Generator().manual_seed(0)
    starts = torch.randint(0, len(stream) - 257, (a.calib,), generator=g).tolist()
    calib = [stream[s:s + 256].long()[None] for s in starts]
    held_stream = encode_bytes(held)
    prompts = held_stream[:a.okr_n * 32].long().reshape(a.okr_n, 32)
    dense = AutoModelForCausalLM.from_pretrained(ROOT / "models" / "moe-small", dtype=torch.float32).eval()
    cfg = dense.config
    key = WatermarkKey.from_seed(2026, cfg.hidden_size, cfg.num_local_experts)   # as benchmarks/okr_detection.py
    okr = OKRSettings("boundary", 0.01, 0.1)
    models = {"dense": dense}
    for name, skip in (("attention only", ("lm_head", "*.experts.*")), ("attention + experts", ("lm_head",))):
        m = copy.deepcopy(dense)
        t = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            compress(m, calib, sparsity=0.01, group_size=a.group_size, skip=skip, progress=False)
        log(name, f"compressed in {time.perf_counter() - t:.1f}s", [str(w.message)[:200] for w in caught if "libortho" in str(w.message)])
        models[name] = m
    rows = []
    for name, m in models.items():
        s = param_summary(m)
        s16 = param_summary(torch.nn.Module.half(copy.deepcopy(m)))          # stored as the checkpoint is: fp16
        for a_ in ((None,) if name == "dense" else (0.0, 1.0)):
            ctx = alpha(m, a_) if a_ is not None else torch.no_grad()
            with ctx, torch.no_grad():
                bpb = bits_per_byte(m, held_stream, max_tokens=a.eval_bytes)
                t = time.perf_counter()
                keyed = okr_generate(m, key, prompts, a.new, okr, layers="last", seed=0)
                clean = okr_generate(m, None, prompts, a.new, okr, layers="last", seed=0)
                det = OKRDetector(m, key, okr, layers="last", n_null=a.null)
                ok, oc = det(keyed, prompt_len=32), det(clean, prompt_len=32)
                pk, pc = ok.p_value, oc.p_value
            row = dict(model=name, alpha=a_, converted_params=s["converted_params"], dense_params=s["dense_params"],
                       converted_share=s["converted_share"], expert_params_converted=s["converted"].get("experts", 0),
                       expert_params_dense=s["dense"].get("experts", 0), bits_per_param_fp16=s16["bits_per_param"],
                       magnitude_experts=len(getattr(getattr(m.config, "quantization_config", None), "magnitude_layers", []) or []),
                       bits_per_byte=bpb, perplexity=2 ** bpb, okr_detect_rate=float((pk <= 0.01).mean()),
                       okr_false_rate=float((pc <= 0.01).mean()), okr_median_p_keyed=float(pd.Series(pk).median()),
                       okr_median_z_keyed=float(pd.Series(ok.z_score).median()),
                       okr_median_z_clean=float(pd.Series(oc.z_score).median()),
                       group_size=a.group_size, n_okr=a.okr_n, new_tokens=a.new, n_null=a.null, calib_windows=a.calib, eval_bytes=a.eval_bytes)
            log(row, f"okr {time.perf_counter() - t:.1f}s")
            rows.append(row)
    df = pd.DataFrame(rows)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(a.out, index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 30): print(df)

if __name__ == "__main__": main()
