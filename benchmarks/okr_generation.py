"""OKR's cost on CPU: router forward and greedy generation with and without the key, measured side by side in one run.

Loads a trained byte-level MoE checkpoint (default models/moe-small), routes a batch of real router inputs (captured from
held-out text) through one router with and without OKR, and generates greedily with the model with and without OKR (applied and
removed on the same model between runs). Repeats are interleaved, alternating which goes first, so machine noise and order effects
hit both alike; medians and ratios are printed, and a control (OKR applied with no possible opportunity) for the cost of its ops alone.
Not a timed test: nothing here gates CI on an absolute time. Goal (issue 5): keyed generation >= 0.97x clean tokens/s.
One thread by default: on a shared 2-core machine two OpenMP threads made a batch-1 forward of this model ~40x slower (165 ms
instead of 3.6 ms), as each op waits for a thread another process has descheduled; batch-1 decoding gains nothing from threads here.

    python benchmarks/okr_generation.py [--model models/moe-small] [--repeats 9] [--new-tokens 128] [--threads 1]
"""
import argparse, statistics, time
from pathlib import Path
import torch
from transformers import AutoModelForCausalLM
from libortho_nb.lab.corpus import stdlib_corpus, split_corpus, encode_bytes
from libortho_nb.okr import WatermarkKey, apply_okr, remove_okr, find_routers, okr_stats

def seconds(fn):
    t = time.perf_counter(); fn(); return time.perf_counter() - t

def router_inputs(model, ids):
    "The hidden states the first router sees on `ids`, `[N, hidden]`."
    r = next(iter(find_routers(model).values())); seen = []
    h = r.register_forward_hook(lambda m, args, out: seen.append(args[0].detach().reshape(-1, args[0].shape[-1])))
    with torch.no_grad(): model(input_ids=ids)
    h.remove()
    return seen[0]

def interleaved(fn_clean, fn_keyed, model, key, okr_kw, repeats):
    "Times of `fn_clean` (OKR removed) and `fn_keyed` (OKR applied) on the same model, alternating which runs first."
    tc, tk = [], []
    for i in range(repeats):
        for keyed in ((False, True) if i % 2 == 0 else (True, False)):
            if keyed: apply_okr(model, key, **okr_kw); tk.append(seconds(fn_keyed)); remove_okr(model)
            else: tc.append(seconds(fn_clean))
    return statistics.median(tc), statistics.median(tk), [c / k for c, k in zip(tc, tk)]

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--model', default=str(Path(__file__).resolve().parent.parent / 'models' / 'moe-small'))
    ap.add_argument('--repeats', type=int, default=9); ap.add_argument('--new-tokens', type=int, default=128)
    ap.add_argument('--prompt-bytes', type=int, default=64); ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--rule', default='boundary'); ap.add_argument('--rho', type=float, default=0.9)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).eval()
    cfg = model.config
    key = WatermarkKey.from_seed(2026, cfg.hidden_size, cfg.num_local_experts)
    okr_kw = dict(rule=a.rule, rho=a.rho)                                  # apply_okr's keyword form of OKRSettings
    held = encode_bytes(split_corpus(stdlib_corpus())[1])
    print(f"torch {torch.__version__}, {a.threads} thread(s), {a.model}: hidden {cfg.hidden_size}, {cfg.num_hidden_layers} layers, "
          f"{cfg.num_local_experts} experts, top-{cfg.num_experts_per_tok}; OKR rule={a.rule} rho={a.rho} dead_zone=0.1; "
          f"median of {a.repeats} interleaved repeats (same model, OKR applied and removed between runs, order alternating)")

    print("\nrouter forward alone (first MoE layer, real router inputs from held-out text), float32:")
    print(f"  {'tokens':>6} {'clean us':>9} {'OKR us':>9} {'ratio':>6}")
    x_all = router_inputs(model, held[:16 * 256].long().view(16, 256))                  # [4096, hidden]
    r = next(iter(find_routers(model).values()))
    with torch.inference_mode():
        for n in (1, 64, 4096):
            x = x_all[:n]
            reps = max(1, 2000 // n)                                                      # time a loop of small calls
            f = lambda: [r(x) for _ in range(reps)]                                      # the router module, keyed or not
            f(); apply_okr(model, key, **okr_kw); f(); remove_okr(model)                  # warm-up
            mc, mk, _ = interleaved(f, f, model, key, okr_kw, a.repeats)
            print(f"  {n:>6} {mc / reps * 1e6:>9.1f} {mk / reps * 1e6:>9.1f} {mk / mc:>6.2f}")

    prompt = held[:a.prompt_bytes].long()[None]
    kw = dict(attention_mask=torch.ones_like(prompt), max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens,
              do_sample=False, use_cache=True)
    gen = lambda: model.generate(prompt, **kw)
    with torch.inference_mode():
        out_clean = gen()                                                                 # warm-up, and the outputs
        apply_okr(model, key, **okr_kw); out_keyed = gen(); st = okr_stats(model).sum(); remove_okr(model)
        mc, mk, ratios = interleaved(gen, gen, model, key, okr_kw, a.repeats)
        _, mc2, control = interleaved(gen, gen, model, key, dict(rule="max", rho=1.0), a.repeats)
    assert out_clean.shape[1] == out_keyed.shape[1] == prompt.shape[1] + a.new_tokens
    sc, sk = a.new_tokens / mc, a.new_tokens / mk
    print(f"\ngreedy generate(), batch 1, {a.prompt_bytes}-byte prompt, {a.new_tokens} new tokens, KV cache:")
    print(f"  clean {sc:.1f} tokens/s, OKR {sk:.1f} tokens/s, ratio {sk / sc:.3f} (goal >= 0.97: {'holds' if sk / sc >= 0.97 else 'does NOT hold'})")
    print(f"  per-repeat ratios: {', '.join(f'{x:.3f}' for x in ratios)}")
    print(f"  OKR with no opportunity at all (max, rho=1: same ops, the key never acts): ratio {a.new_tokens / mc2 / sc:.3f}")
    print(f"  OKR during one generation: {int(st.opportunities)} opportunities and {int(st.changed)} changed decisions in {int(st.tokens)} routing decisions; "
          f"generated bytes differ from the clean model's at {int((out_clean != out_keyed).sum())} of {a.new_tokens} positions")

if __name__ == '__main__': main()
