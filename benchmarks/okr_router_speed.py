"""The keyed router's cost against the clean router's, and keyed against clean greedy generation, measured side by side.

On the committed moe-small model (models/moe-small, float32), for 1 and 2 torch threads:

* router forward alone (the first MoE layer's router, real router inputs from held-out text) at 1 and 4096 tokens;
* greedy `generate()` (batch 1, fixed length, KV cache) with OKR on every MoE layer and on the last one only.

Each is timed by the wall clock and by the process's CPU time: on a shared machine the CPU time leaves out the time other jobs
held the cores, which the wall clock charges to whichever run they happened to interrupt.

Clean and keyed runs use the same model (OKR applied and removed between runs) and are interleaved, alternating which goes
first, so machine noise and order effects hit both alike; medians and their ratio are reported. Not a timed test: nothing here
gates CI on an absolute time. Goal (issue 15): keyed generation >= 0.95x the clean tokens/s.

    python benchmarks/okr_router_speed.py [--tag after] [--repeats 9] [--new-tokens 64] [--threads 1 2]

Writes results/okr_speed/router_speed_<tag>.csv and .log (run it once on the old code with --tag before for the "before").
"""
import argparse, statistics, subprocess, time
from pathlib import Path
import pandas as pd
import torch
from transformers import AutoModelForCausalLM
from libortho_nb.lab.corpus import stdlib_corpus, split_corpus, encode_bytes
from libortho_nb.okr import WatermarkKey, apply_okr, remove_okr, find_routers, okr_target
from okr_generation import router_inputs          # benchmarks/ is on the path when a script there runs

ROOT = Path(__file__).resolve().parent.parent

def seconds(fn):
    "Wall-clock and process CPU seconds of `fn()` (CPU time leaves out the time other jobs held the cores)."
    t, c = time.perf_counter(), time.process_time(); fn()
    return time.perf_counter() - t, time.process_time() - c

def interleaved(fn, target, key, repeats):
    "Median (wall, CPU) seconds of `fn` clean and keyed (OKR applied to `target` around each keyed run), order alternating."
    tc, tk = [], []
    for i in range(repeats):
        for keyed in ((False, True) if i % 2 == 0 else (True, False)):
            if keyed: apply_okr(target, key); tk.append(seconds(fn)); remove_okr(target)
            else: tc.append(seconds(fn))
    med = lambda ts, j: statistics.median(t[j] for t in ts)
    return (med(tc, 0), med(tk, 0)), (med(tc, 1), med(tk, 1))

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--model', default=str(ROOT / 'models' / 'moe-small'))
    ap.add_argument('--tag', default='after'); ap.add_argument('--repeats', type=int, default=9)
    ap.add_argument('--new-tokens', type=int, default=64); ap.add_argument('--prompt-bytes', type=int, default=64)
    ap.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    ap.add_argument('--code', default='', help='names the library code measured (default: its git commit)')
    a = ap.parse_args()
    out = ROOT / 'results' / 'okr_speed'; out.mkdir(parents=True, exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).eval()
    cfg = model.config
    key = WatermarkKey.from_seed(2026, cfg.hidden_size, cfg.num_local_experts)
    held = encode_bytes(split_corpus(stdlib_corpus())[1])
    x_all = router_inputs(model, held[:16 * 256].long().view(16, 256))                  # [4096, hidden]
    r = next(iter(find_routers(model).values()))
    first = model.get_submodule(next(iter(find_routers(model))).rsplit('.', 1)[0])      # the first MoE block
    prompt = held[:a.prompt_bytes].long()[None]
    kw = dict(attention_mask=torch.ones_like(prompt), max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens,
              do_sample=False, use_cache=True)
    gen = lambda: model.generate(prompt, **kw)
    commit = a.code or subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True,
                                      cwd=Path(__import__('libortho_nb').__file__).parent).stdout.strip()
    log = [f"torch {torch.__version__}, libortho_nb at {commit}, {a.model}: hidden {cfg.hidden_size}, "
           f"{cfg.num_hidden_layers} layers, {cfg.num_local_experts} experts, top-{cfg.num_experts_per_tok}; "
           f"OKRSettings() defaults; median of {a.repeats} interleaved repeats"]
    rows = []
    with torch.inference_mode():
        for th in a.threads:
            torch.set_num_threads(th)
            for n in (1, 4096):
                reps = max(1, 2000 // n)
                # the router module, keyed or not, on `reps` different real inputs of n tokens (decoding: one at a time)
                f = lambda: [r(x_all[i * n:(i + 1) * n]) for i in range(reps)]
                f(); apply_okr(first, key); f(); remove_okr(first)                        # warm-up
                for clock, (mc, mk) in zip(("wall", "cpu"), interleaved(f, first, key, a.repeats)):
                    rows.append(dict(threads=th, measure=f"router forward, {n} tokens", clock=clock,
                                     unit="us per call", clean=mc / reps * 1e6, keyed=mk / reps * 1e6,
                                     keyed_over_clean=mk / mc))
            for layers in ("all", "last"):
                target = okr_target(model, layers)
                gen(); apply_okr(target, key); gen(); remove_okr(target)                  # warm-up
                for clock, (mc, mk) in zip(("wall", "cpu"), interleaved(gen, target, key, a.repeats)):
                    rows.append(dict(threads=th, measure=f"greedy generate, OKR on {layers} MoE layers, "
                                     f"{a.new_tokens} new tokens", clock=clock, unit="tokens/s",
                                     clean=a.new_tokens / mc, keyed=a.new_tokens / mk, keyed_over_clean=mc / mk))
            for row in rows[-8:]: log.append(str(row))
    df = pd.DataFrame(rows)
    df.insert(0, 'code', commit)
    df.to_csv(out / f'router_speed_{a.tag}.csv', index=False, float_format='%.4g')
    text = "\n".join(log) + "\n\n" + df.to_string(index=False, float_format=lambda v: f"{v:.3g}")
    (out / f'router_speed_{a.tag}.log').write_text(text + "\n")
    print(text)

if __name__ == '__main__': main()
