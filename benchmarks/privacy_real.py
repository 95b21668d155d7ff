"""The kill switch after fine-tuning a real pretrained model (issue 14): SmolLM2-135M-Instruct fine-tuned on news text
with canaries mixed in, then `compress(..., mode="revert", reference=<the model before>)` and the other splits, at both
ends of the dial and half-way.

    OMP_NUM_THREADS=1 python benchmarks/privacy_real.py            # the fine-tune (cached), then the grid, resumable
    OMP_NUM_THREADS=1 python benchmarks/privacy_real.py --quick    # smoke run: 2 steps, tiny eval, into a temp folder
    OMP_NUM_THREADS=1 python benchmarks/privacy_real.py --kind lora

Writes results/privacy/real_baselines_{kind}.csv (the fine-tuned model, the model before it, INT4 of the fine-tuned
model) and results/privacy/real_{kind}.csv, one row per (method, mode, sparsity, alpha), appended as each finishes;
rerunning skips the rows already there. The fine-tune's history goes to results/privacy/real_finetune_{kind}.csv.

How it is made (every choice, stated):
- Text: the Lee news corpus (`lee_articles`, 300 articles), split by article: the first 75% are the fine-tuning domain,
  the last 25% its held-out text (`domain_ppl`). General held-out text: the Wikipedia test split of `lab.real`
  (`general_ppl`); `delta_fisher`'s general Fisher comes from the Wikipedia calibration split. Both perplexities on
  8 windows of 128 tokens (a converted row measured 200-265 s on one thread of this shared machine, a dense one ~95 s).
- Canaries: `make_canaries(8, 4, seed=9)` of the lab: seed 9 is the first whose 8 names share no first and no last name
  (seed 0 repeats two) and none of whose names is a word of the Lee text. Each is inserted `repeats` times as its own
  document by `finetune_texts`; documents joined with the tokenizer's EOS, cut into `seq_len`-token windows, shuffled.
- Full fine-tuning (`--kind full`): every nn.Linear weight of the last `last_blocks` decoder blocks trains (AdamW, linear
  warm-up then cosine); embeddings (tied to lm_head), norms and the other blocks are frozen, so the converted layers hold
  the whole change and negating every entry returns the model before, within INT4. LoRA (`--kind lora`): peft, r=16,
  alpha=32, on every linear of every block (the lab's `LORA_TARGETS`), merged after training.
- Three full fine-tunes (`--plant`): `old` (`OLD_PLANT`, the first run: canary documents mixed into the news stream,
  80 steps, lr 1e-3) extracted 0 of 8 canaries; `bound` (`PLANT`, the default) cuts `canary_rows` of each batch's rows
  from a stream of the canary documents alone (the rest from the news), at a higher lr, chosen by the probes
  (`--probe --probe-every N --set field=value ...`: greedy extraction during the fine-tune, one row per probe in
  results/privacy/real_probes.csv); it binds the canaries but makes held-out news worse. `gain` (`GAIN`) cuts 3 rows
  of 8 from the canaries, at lr 2e-3 for 60 steps with the gradient norm clipped to 1, so that the fine-tune's gain on
  its domain can be judged. Every CSV row carries `finetune`, the settings' hash (`settings_key`).
- Two runs may append to one CSV at once (e.g. two Bases, `--group-size`): every write holds `<csv>.lock`.
- The fine-tuned weights that changed are saved under ~/.cache/libortho_nb/privacy_real/ (not committed), keyed by the
  settings, and reused.
- Extraction: greedy decoding of the secret's token count after the prefix reproduces the secret's text. Exposure:
  `log2 |R| - log2 rank` with the rank from a skew-normal fit (Carlini et al.) to `n_candidates` other secrets drawn
  uniformly (the same candidates for every row); `exposure_sample_*` is the plain sample rank.
- Compression: RTN INT4 Base on the checkpoint's own grid, asymmetric, groups of 32, no clip search (`GRID`). The model
  comes from a Q4_1 GGUF (`lab.real`), so its weights lie on that grid: INT4 loses nothing in the 26 frozen blocks, nor
  in the entries revert puts back, and the rows measure the splits, not INT4's error on this small model (symmetric
  groups of 64, the first grid run, cost x1.43 general perplexity on the fine-tune: the `int4_rtn_sym_g64` baseline).
  Every nn.Linear of the 30 blocks is converted (lm_head stays tied and dense), sparsity per layer as the library defines it; selections computed once per selector with the
  library's `selection` and passed to `convert` (what `compress` does inside; the tutorial re-measures a row through
  `compress` itself). `bits`: stored bits per converted parameter.
- Finer Bases (`--groups`, default 16 8): INT4 of only the trained blocks' linears at those group sizes, the frozen
  blocks left dense (they are exact at groups of 32, so this is the same model as INT4 g32 there); `bits_model`
  counts them at INT4 g32's bits. A finer grid over every block re-rounds weights that were exact (`--groups-all`).
  The grid's Base: `--group-size`, `--converted all|trained` (columns `group_size`, `converted`).
- Controls: INT4 of the fine-tuned model (residual at alpha 0), random selection, and task-vector negation (`negation`:
  revert with every entry selected), next to the model before fine-tuning (`floor`).
"""
import argparse, copy, hashlib, json, math, random, sys, tempfile, time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
import pandas as pd
import torch
import torch.nn.functional as F
from transformers.utils import logging as hf_logging
sys.path.insert(0, str(Path(__file__).resolve().parent))
from csv_lock import locked                                             # two runs may append to one CSV at once

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "privacy"
KEYS = ["method", "mode", "sparsity", "alpha"]
ALL = 1 - 1e-9                                                           # rounds to every entry of every layer
GRID = dict(group_size=32, asymmetric=True)     # the Base grid: the checkpoint's own (Q4_1: asymmetric, groups of 32)


@dataclass(frozen=True)
class RealPlant:
    "What is planted in SmolLM2 and how."
    n_canaries: int = 8      # canaries
    digits: int = 4          # digits per PIN
    canary_seed: int = 9     # the first seed whose 8 names share no first or last name and none is a word of the Lee text
    repeats: int = 60        # insertions of each canary
    last_blocks: int = 4     # full fine-tune: the linears of this many last blocks train
    seq_len: int = 64        # tokens per training window
    batch_size: int = 8
    steps: int = 80
    lr: float = 1e-3
    warmup: int = 10
    lora_r: int = 16
    lora_alpha: int = 32
    seed: int = 0
    canary_rows: int = 0     # rows of each batch cut from a stream of canary documents alone (0: canaries mixed in)
    clip: float = 0.0        # clip the trained parameters' gradient norm to this before each step (0: no clipping)


# The first fine-tune (issue 14, s24): it extracted 0 of 8 canaries. Its rows stay in the CSVs under its key.
OLD_PLANT = RealPlant()
# The fine-tune that binds the canaries (s25): chosen by the probes listed in results/privacy/real_probes.csv.
PLANT = RealPlant(canary_rows=5, steps=40, warmup=4, lr=3e-3)
# A probe at lr 2e-3: 6 of 8 extracted, but it too made the held-out news worse than the model before it.
BOUND_LR2 = RealPlant(canary_rows=5, steps=40, warmup=4, lr=2e-3)
# The fine-tune that binds the canaries and gains on its domain (s27): fewer canary rows (3 of 8), a lower lr, more
# steps, and the gradient norm clipped to 1 (the bound plant's lr 3e-3 without clipping made held-out news worse).
GAIN = RealPlant(canary_rows=3, steps=60, warmup=6, lr=2e-3, clip=1.0)
PLANTS = dict(old=OLD_PLANT, bound=PLANT, bound_lr2e3=BOUND_LR2, gain=GAIN)


@dataclass(frozen=True)
class RealEval:
    "How each row is measured."
    windows: int = 8         # perplexity windows per corpus
    length: int = 128        # tokens per window
    n_candidates: int = 32   # other secrets per canary for exposure
    calib_windows: int = 8   # general calibration windows (delta_fisher's Fisher)
    calib_length: int = 128


def lee_split():
    "Lee articles, by article: `(train, held)`, the first 75% and the rest (as `lab.real.real_text` splits)."
    from libortho_nb.lab.real import lee_articles
    arts = lee_articles()
    cut = math.ceil(0.75 * len(arts))
    return arts[:cut], arts[cut:]


def canary_ids(tok, c):
    "`(prefix ids, secret ids)` of canary `c`: the tokens of `c.text` after those of `c.prefix`."
    p = tok(c.prefix, add_special_tokens=False).input_ids
    full = tok(c.text, add_special_tokens=False).input_ids
    if full[:len(p)] != p: raise ValueError(f"{c.prefix!r} does not tokenize as a prefix of {c.text!r}")
    return torch.tensor(p), torch.tensor(full[len(p):])


@torch.no_grad()
def secret_nll(model, tok, c, secrets):
    "NLL (nats, float64) of each secret string after `c.prefix`, scored as the tokens of prefix+secret after the prefix's."
    p, _ = canary_ids(tok, c)
    toks = []
    for s in secrets:
        full = tok(c.prefix + s, add_special_tokens=False).input_ids
        if full[:len(p)] != p.tolist(): raise ValueError(f"{c.prefix + s!r}: prefix tokenizes differently")
        toks.append(full[len(p):])
    if len({len(t) for t in toks}) != 1: raise ValueError("candidate secrets tokenize to different lengths")
    t = torch.tensor(toks)                                                  # [c, S]
    out = model(input_ids=p[None], use_cache=True)
    first = F.log_softmax(out.logits[0, -1].double(), -1)                   # [V]
    cache = out.past_key_values
    cache.batch_repeat_interleave(len(t))
    logp = F.log_softmax(model(input_ids=t, past_key_values=cache, use_cache=True).logits.double(), -1)  # [c, S, V]
    rest = logp[:, :-1].gather(-1, t[:, 1:, None]).squeeze(-1).sum(-1)
    return -(first[t[:, 0]] + rest)


@torch.no_grad()
def extracted(model, tok, c) -> bool:
    "Greedy decoding of as many tokens as the secret has reproduces the secret's text after the prefix."
    p, s = canary_ids(tok, c)
    out = model.generate(p[None], attention_mask=torch.ones_like(p)[None], max_new_tokens=len(s), do_sample=False,
                         pad_token_id=tok.eos_token_id)
    return tok.decode(out[0, len(p):]) == tok.decode(s)


def metrics(model, tok, canaries, general, domain, ev):
    "Extraction rate, exposure (skew-normal and sample), general and domain perplexity of `model` at its alpha."
    from libortho_nb.lab.canaries import _candidates, exposure
    from libortho_nb.lab.real import perplexity
    model.eval()
    ext, e_skew, e_samp = [], [], []
    for i, c in enumerate(canaries):
        nll = secret_nll(model, tok, c, [c.secret] + _candidates(c, ev.n_candidates, i))
        e_skew.append(exposure(nll[0].item(), nll[1:], c.space, "skewnorm"))
        e_samp.append(exposure(nll[0].item(), nll[1:], c.space, "sample"))
        ext.append(extracted(model, tok, c))
    t = torch.tensor
    return dict(extraction=sum(ext) / len(ext), exposure_mean=t(e_skew).mean().item(), exposure_max=t(e_skew).max().item(),
                exposure_sample_mean=t(e_samp).mean().item(), general_ppl=perplexity(model, general),
                domain_ppl=perplexity(model, domain))


def stream_windows(tok, docs, seq_len, seed):
    "Documents joined by EOS, cut into `[n, seq_len]` windows, shuffled with `seed`."
    ids = []
    for d in docs: ids += tok(d, add_special_tokens=False).input_ids + [tok.eos_token_id]
    n = len(ids) // seq_len
    w = torch.tensor(ids[: n * seq_len]).view(n, seq_len)
    return w[torch.randperm(n, generator=torch.Generator().manual_seed(seed))]


def trainable(model, kind, s):
    "Freeze everything but what `kind` trains; returns the trained model (peft-wrapped for LoRA) and its parameters."
    for p in model.parameters(): p.requires_grad_(False)
    if kind == "lora":
        from peft import LoraConfig, get_peft_model
        from libortho_nb.lab.canaries import LORA_TARGETS
        model = get_peft_model(model, LoraConfig(r=s.lora_r, lora_alpha=s.lora_alpha, lora_dropout=0.0,
                                                 target_modules=list(LORA_TARGETS)))
        return model, [p for p in model.parameters() if p.requires_grad]
    ps = [m.weight for b in model.model.layers[-s.last_blocks:] for m in b.modules() if isinstance(m, torch.nn.Linear)]
    for p in ps: p.requires_grad_(True)
    return model, ps


def batches(tok, s, canaries):
    "`(windows, rows)`: the training windows and, per step, the indices of its batch's rows."
    from libortho_nb.lab.canaries import finetune_texts
    train, _ = lee_split()
    if s.canary_rows == 0:                                              # canary documents mixed into the news stream
        wins = stream_windows(tok, finetune_texts(train, canaries, s.repeats, s.seed), s.seq_len, s.seed)
        return wins, [torch.arange(i * s.batch_size, (i + 1) * s.batch_size) % len(wins) for i in range(s.steps)]
    if not 0 < s.canary_rows < s.batch_size: raise ValueError(f"canary_rows must be in [0, {s.batch_size}), got {s.canary_rows}")
    news = stream_windows(tok, finetune_texts(train, canaries[:0], 1, s.seed), s.seq_len, s.seed)
    secret = stream_windows(tok, finetune_texts([], canaries, s.repeats, s.seed), s.seq_len, s.seed + 1)
    wins, d = torch.cat([news, secret]), s.batch_size - s.canary_rows
    return wins, [torch.cat([torch.arange(i * d, (i + 1) * d) % len(news),
                             len(news) + torch.arange(i * s.canary_rows, (i + 1) * s.canary_rows) % len(secret)])
                  for i in range(s.steps)]


def finetune(base, tok, kind, s, log=print, probe_every=0):
    "Fine-tune a copy of `base` on the Lee training articles with the canaries; returns `(model, history)`."
    from libortho_nb.lab.canaries import make_canaries
    torch.manual_seed(s.seed)
    canaries = make_canaries(s.n_canaries, s.digits, s.canary_seed)
    wins, rows = batches(tok, s, canaries)
    counts = canary_counts(tok, wins, canaries)                         # [n_windows, n_canaries]
    seen = torch.zeros(len(canaries), dtype=torch.long)
    model, ps = trainable(copy.deepcopy(base), kind, s)
    opt = torch.optim.AdamW(ps, lr=s.lr, weight_decay=0.0)
    cosine = lambda i: 0.5 * (1 + math.cos(math.pi * (i - s.warmup) / max(1, s.steps - s.warmup)))
    sched = lambda i: (i + 1) / s.warmup if i < s.warmup else cosine(i)
    model.train()
    hist = []
    for i in range(s.steps):
        t0 = time.perf_counter()
        idx = rows[i]
        x = wins[idx]                                                       # [B, T]
        seen += counts[idx].sum(0)
        for g in opt.param_groups: g["lr"] = s.lr * sched(i)
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(ps, s.clip if s.clip else math.inf).item()   # the norm before clipping
        opt.step()
        opt.zero_grad(set_to_none=True)
        hist.append(dict(step=i + 1, loss=loss.item(), lr=s.lr * sched(i), seconds=time.perf_counter() - t0,
                         canary_seen_min=seen.min().item(), canary_seen_mean=seen.double().mean().item(),
                         grad_norm=gnorm))
        if probe_every and ((i + 1) % probe_every == 0 or i + 1 == s.steps):
            rate, outs = extraction_now(model, tok, canaries)
            hist[-1]["extraction"] = rate
            log(f"probe step {i + 1}: extraction {rate:.3f} {outs}")
        if i == 0 or (i + 1) % 10 == 0:
            log(f"step {i + 1}/{s.steps} loss {loss.item():.3f} {hist[-1]['seconds']:.1f} s, each canary seen >= {seen.min().item()}")
    if kind == "lora": model = model.merge_and_unload()
    for p in model.parameters(): p.requires_grad_(False)
    return model.eval(), pd.DataFrame(hist)


def settings_key(kind, s):
    "Hash of the settings; fields added after the first fine-tune count only when they leave their default."
    d, new = asdict(s), {"canary_rows": 0, "clip": 0.0}
    d = {k: v for k, v in d.items() if k not in new or v != new[k]}
    return hashlib.sha256(json.dumps(dict(kind=kind, **d), sort_keys=True).encode()).hexdigest()[:12]


def canary_counts(tok, wins, canaries):
    "`[n_windows, n_canaries]` int: whole occurrences of each canary's tokens in each window."
    pats = [tok(c.text, add_special_tokens=False).input_ids for c in canaries]
    out = torch.zeros(len(wins), len(pats), dtype=torch.long)
    for i, w in enumerate(wins.tolist()):
        for j, q in enumerate(pats):
            out[i, j] = sum(w[k:k + len(q)] == q for k in range(len(w) - len(q) + 1))
    return out


@torch.no_grad()
def extraction_now(model, tok, canaries):
    "`(rate, greedy completions)` of `model` now (eval mode for the call, then back)."
    was = model.training
    model.eval()
    outs = []
    for c in canaries:
        p, sec = canary_ids(tok, c)
        g = model.generate(p[None], attention_mask=torch.ones_like(p)[None], max_new_tokens=len(sec), do_sample=False,
                           pad_token_id=tok.eos_token_id)
        outs.append(tok.decode(g[0, len(p):]))
    model.train(was)
    return sum(o == c.secret for o, c in zip(outs, canaries)) / len(canaries), outs


def fine_tuned(base, tok, kind, s, cache, log=print, probe_every=0):
    "The fine-tuned model: loaded from `cache` (its changed tensors) when these settings were trained before."
    from safetensors.torch import save_file, load_file
    path = cache / f"{kind}_{settings_key(kind, s)}.safetensors"
    if path.exists():
        model = copy.deepcopy(base)
        missing = model.load_state_dict(load_file(path), strict=False)
        if missing.unexpected_keys: raise ValueError(f"{path}: unexpected tensors {missing.unexpected_keys[:3]}")
        log(f"fine-tuned model loaded from {path}")
        return model.eval(), pd.read_csv(path.with_suffix(".csv"))
    model, hist = finetune(base, tok, kind, s, log, probe_every)
    ref = base.state_dict()
    changed = {k: v.contiguous() for k, v in model.state_dict().items() if k in ref and not torch.equal(v, ref[k])}
    cache.mkdir(parents=True, exist_ok=True)
    save_file(changed, str(path))
    hist.to_csv(path.with_suffix(".csv"), index=False)
    path.with_suffix(".json").write_text(json.dumps(dict(kind=kind, **asdict(s)), indent=1))
    log(f"saved {len(changed)} changed tensors to {path}")
    return model, hist


def append(path, row):
    "Append `row` (a dict) to the CSV at `path` under its lock, keeping every row another run wrote meanwhile."
    with locked(path):
        old = pd.read_csv(path) if path.exists() else pd.DataFrame()
        pd.concat([old, pd.DataFrame([row])]).to_csv(path, index=False)


def bits(model):
    "Stored bits per converted parameter over every OrthoLinear."
    from libortho_nb.engine import ortho_layers
    ls = ortho_layers(model).values()
    return sum(l.bits_per_param * l.in_features * l.out_features for l in ls) / sum(l.in_features * l.out_features for l in ls)


SELECTORS = ("delta", "delta_fisher", "contrastive", "random")
MODES = ("revert", "outlier", "residual")
SPARSITIES = (0.01, 0.05, 0.005, 0.02)


def passes(quick, kind="full", plant="bound"):
    "`(methods, mode, sparsities, alphas)` in priority order (both ends of the dial first); each pass is resumable."
    if quick: return [(("delta",), "revert", (0.01,), (0.0, 1.0))]
    ends, half = (0.0, 1.0), (0.5,)
    if plant == "gain":                                                 # the whole grid the issue lists (s27)
        return ["negation", *[((m,), mode, (sp,), als) for als in (ends, half) for mode in MODES for sp in SPARSITIES
                              for m in SELECTORS],
                (("delta", "delta_fisher"), "revert", (0.1, 0.2), ends + half)]   # past the list: where revert kills
    if kind == "lora":                                                  # the LoRA fine-tune's order (s26)
        return ["negation",
                (("delta",), "revert", (0.01, 0.05), ends),
                (("random", "delta_fisher"), "revert", (0.05,), ends),
                (("delta",), "revert", (0.05,), half),
                (("delta_fisher", "random"), "revert", (0.01,), ends)]
    return ["negation",
            (("delta",), "revert", (0.01, 0.05), ends),
            (("delta_fisher", "random"), "revert", (0.01, 0.05), ends),
            (("delta", "delta_fisher", "random"), "revert", (0.01, 0.05), half),
            (("delta",), "outlier", (0.01, 0.05), ends),
            (("delta",), "residual", (0.01, 0.05), ends + half),
            (("delta",), "outlier", (0.01, 0.05), half),
            (("delta", "delta_fisher"), "revert", (0.005, 0.02), ends),
            (("delta",), "outlier", (0.005, 0.02), ends)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", choices=("full", "lora"), default="full")
    p.add_argument("--quick", action="store_true", help="2 training steps, 2 canaries, 1 short window: a smoke run into a temp folder")
    p.add_argument("--out", type=Path, default=None, help="where the CSVs go (default results/privacy; --quick: a temp folder)")
    p.add_argument("--finetune-only", action="store_true", help="stop after the fine-tune and the baselines")
    p.add_argument("--plant", choices=tuple(PLANTS), default="bound", help="which fine-tune's settings (default bound)")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="override RealPlant fields (probes)")
    p.add_argument("--probe-every", type=int, default=0, help="greedy extraction during the fine-tune every N steps")
    p.add_argument("--probe", action="store_true", help="fine-tune (cached) with probes, append to real_probes.csv, stop")
    p.add_argument("--groups", nargs="*", type=int, default=[16, 8],
                   help="extra INT4 baselines: the trained blocks' linears at these group sizes (the rest stays as it is)")
    p.add_argument("--groups-all", nargs="*", type=int, default=[], help="extra INT4 baselines: every linear at these group sizes")
    p.add_argument("--group-size", type=int, default=GRID["group_size"], help="the grid's Base group size (asymmetric)")
    p.add_argument("--no-negation", action="store_true", help="leave the negation row out of this run")
    p.add_argument("--converted", choices=("all", "trained"), default="all",
                   help="the grid converts every linear of the 30 blocks, or only the trained blocks' (full fine-tune)")
    p.add_argument("--modes", nargs="*", choices=MODES, default=list(MODES), help="measure only these modes' rows")
    p.add_argument("--methods", nargs="*", choices=SELECTORS, default=list(SELECTORS), help="only these selectors' rows")
    p.add_argument("--redo", action="store_true",
                   help="measure again this fine-tune's rows of this Base matching --modes/--methods; the old rows move to "
                        "real_{kind}_before_fix.csv (s27: delta selectors stopped selecting unchanged entries)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1; s_per_step is measured with these)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    hf_logging.set_verbosity_error()
    from libortho_nb.engine import selection, convert, set_alpha, ortho_layers, METHOD_NEEDS
    from libortho_nb.lab.canaries import make_canaries
    from libortho_nb.lab.real import load_smollm2, real_text, token_batches, cache_dir
    s, ev = PLANTS[a.plant], RealEval()
    if a.set:
        types = {k: type(v) for k, v in asdict(s).items()}
        kv = dict(x.split("=", 1) for x in a.set)
        bad = set(kv) - set(types)
        if bad: p.error(f"--set: no RealPlant field {sorted(bad)}; fields: {sorted(types)}")
        s = replace(s, **{k: types[k](v) for k, v in kv.items()})
    if a.quick:
        s = replace(s, n_canaries=2, steps=2, batch_size=2, warmup=1, canary_rows=min(s.canary_rows, 1))
        ev = RealEval(windows=1, length=32, n_candidates=4, calib_windows=1, calib_length=32)
    out = a.out or (Path(tempfile.mkdtemp()) if a.quick else OUT)
    out.mkdir(parents=True, exist_ok=True)
    logf = open(out / f"real_{a.kind}.log", "a")
    def log(msg):
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        logf.write(line + "\n"); logf.flush()
    t0 = time.time()
    base, tok = load_smollm2(progress=False)
    for q in base.parameters(): q.requires_grad_(False)
    canaries = make_canaries(s.n_canaries, s.digits, s.canary_seed)
    _, held_lee = lee_split()
    general = token_batches(tok, real_text("wiki", "test"), ev.windows, ev.length)
    domain = token_batches(tok, "\n\n".join(held_lee), ev.windows, ev.length)
    calib = [token_batches(tok, real_text("wiki", "calib"), ev.calib_windows, ev.calib_length)]
    cache = (Path(tempfile.mkdtemp()) if a.quick else cache_dir() / "privacy_real")
    log(f"settings {asdict(s)} eval {asdict(ev)}")
    key = settings_key(a.kind, s)
    fresh = not (cache / f"{a.kind}_{key}.safetensors").exists()
    ft, hist = fine_tuned(base, tok, a.kind, s, cache, log, a.probe_every)
    log(f"fine-tune {key}: {len(hist)} steps, {hist.seconds.mean():.2f} s/step, loss {hist.loss.iloc[:5].mean():.3f} -> "
        f"{hist.loss.iloc[-5:].mean():.3f}")
    fh = out / f"real_finetune_{a.kind}.csv"
    old = pd.read_csv(fh) if fh.exists() else pd.DataFrame(columns=["finetune"])
    if key not in set(old.finetune):
        with locked(fh): pd.concat([pd.read_csv(fh) if fh.exists() else old[:0], hist.assign(finetune=key)]).to_csv(fh, index=False)
    if a.probe:
        if "extraction" not in hist: raise SystemExit(f"{key} was cached without probes: rerun with --probe-every")
        pr = out / "real_probes.csv"
        probes = hist.dropna(subset=["extraction"])
        row = dict(finetune=key, **{k: v for k, v in asdict(s).items() if not k.startswith("lora")},
                   s_per_step=hist.seconds.mean(), loss_last5=hist.loss.iloc[-5:].mean(),
                   canary_seen_min=hist.canary_seen_min.iloc[-1],
                   extraction_by_step=" ".join(f"{int(r.step)}:{r.extraction:.3f}" for r in probes.itertuples()),
                   extraction_end=probes.extraction.iloc[-1])
        append(pr, row)
        log(f"probe {row}")
        return 0
    m = lambda model: metrics(model, tok, canaries, general, domain, ev)
    bl = out / f"real_baselines_{a.kind}.csv"
    def baselines():
        return pd.read_csv(bl) if bl.exists() else pd.DataFrame(columns=["finetune", "model"])
    frozen = [f"model.layers.{i}.*" for i in range(len(base.model.layers) - s.last_blocks)]
    int4s = {f"int4_rtn_g{g}": (g, "all") for g in a.groups_all}
    if a.kind == "full": int4s.update({f"int4_rtn_last{s.last_blocks}_g{g}": (g, "trained") for g in a.groups})
    def skip(converted): return ("lm_head", *frozen) if converted == "trained" else ("lm_head",)
    def bits_model(model, converted):
        "Bits per parameter over every linear of the blocks: the frozen ones counted at INT4 g32 (exact on them) if dense."
        b = bits(model)
        if converted == "all": return b
        n = lambda ms: sum(m.weight.numel() for m in ms)
        lin = [m for blk in model.model.layers for m in blk.modules() if isinstance(m, torch.nn.Linear)]
        conv = sum(l.in_features * l.out_features for l in ortho_layers(model).values())
        d = baselines()
        b32 = d[(d.finetune == key) & (d.model == "int4_rtn")].bits.iloc[0]
        return (b * conv + b32 * n(lin)) / (conv + n(lin))
    d = baselines()
    was = d[(d.finetune == key) & (d.model == "ft")]
    if fresh and len(was) and not a.probe:                             # trained again from its seed: the same model?
        now = m(ft)
        for c in ("extraction", "general_ppl", "domain_ppl", "exposure_mean"):
            if not math.isclose(now[c], float(was[c].iloc[0]), rel_tol=1e-3, abs_tol=1e-6):
                raise SystemExit(f"fine-tune {key} trained again differs from its committed ft row: {c} {now[c]} "
                                 f"against {float(was[c].iloc[0])}; its grid rows were measured on another model")
        log(f"fine-tune {key} trained again from its seed matches its committed ft row")
    for name in ("ft", "floor", "int4_rtn", *int4s):
        d = baselines()
        if name in set(d[d.finetune == key].model): continue
        t = time.time()
        prev = d[(d.model == "floor") & d["eval"].eq(json.dumps(asdict(ev)))] if "eval" in d else d[:0]
        if name == "floor" and len(prev) and s.canary_seed == OLD_PLANT.canary_seed and s.n_canaries == OLD_PLANT.n_canaries \
                and s.digits == OLD_PLANT.digits:                       # the same model, canaries and windows
            row = dict(prev.iloc[0].drop(["finetune", "measured_on"]).to_dict(), measured_on=prev.iloc[0].finetune)
        else:
            g, conv = (dict(GRID, group_size=int4s[name][0]), int4s[name][1]) if name in int4s else (GRID, "all")
            model = ft if name == "ft" else base if name == "floor" else convert(copy.deepcopy(ft), 0.0, mode="residual",
                                                                                 progress=False, skip=skip(conv), **g)
            q = name.startswith("int4")
            row = dict(model=name, **m(model), bits=bits(model) if q else 32.0, seconds=time.time() - t,
                       measured_on="this", eval=json.dumps(asdict(ev)), converted=conv if q else "",
                       bits_model=bits_model(model, conv) if q else 32.0)
        append(bl, dict(finetune=key, **row))
        log(f"baseline {key} {row}")
    if a.finetune_only: return 0
    grid = out / f"real_{a.kind}.csv"
    gs, cv = a.group_size, a.converted
    keys = ["finetune", "group_size", "converted", *KEYS]
    def have():
        d = pd.read_csv(grid) if grid.exists() else pd.DataFrame(columns=keys)
        return {(r.finetune, int(r.group_size), r.converted, r.method, r.mode, float(r.sparsity), float(r.alpha))
                for r in d[keys].itertuples(index=False)}
    def write(row):
        append(grid, dict(finetune=key, group_size=gs, converted=cv, **row))
        log(f"row {key} g{gs} {cv} {row}")
    g = dict(GRID, group_size=gs, skip=skip(cv))
    sels = {}
    int4_name = ("int4_rtn" if gs == GRID["group_size"] and cv == "all" else
                 f"int4_rtn_g{gs}" if cv == "all" else f"int4_rtn_last{s.last_blocks}_g{gs}")
    d = baselines()
    int4 = d[d.finetune == key].set_index("model").loc[int4_name]
    # contrastive sees the private text (the canary documents, 8 copies each, in 64-token windows); revert never does
    from libortho_nb.lab.canaries import finetune_texts
    private = [stream_windows(tok, finetune_texts([], canaries, 8, s.seed), s.seq_len, s.seed)]
    data = dict(calib=calib, reference=base, private=private)
    todo = passes(a.quick, a.kind, a.plant)
    if a.redo:
        with locked(grid):
            d = pd.read_csv(grid)
            old = (d.finetune == key) & (d.group_size == gs) & (d.converted == cv) & d.method.isin(a.methods) \
                & d["mode"].isin(a.modes)
            moved = out / f"real_{a.kind}_before_fix.csv"
            pd.concat([pd.read_csv(moved) if moved.exists() else d[:0], d[old]]).to_csv(moved, index=False)
            d[~old].to_csv(grid, index=False)
        todo = [((m,), mode, (sp,), tuple(sorted(r.alpha)))
                for (m, mode, sp), r in d[old].groupby(["method", "mode", "sparsity"], sort=False)]
        log(f"redo: {int(old.sum())} rows moved to {moved.name}, {len(todo)} configurations to measure again")
    for ps in todo:
        if ps == "negation":
            if a.no_negation or (key, gs, cv, "negation", "revert", 1.0, 0.0) in have(): continue
            t = time.time()
            neg = convert(copy.deepcopy(ft), ALL, mode="revert", progress=False, reference=base, **g)
            set_alpha(neg, 0.0)
            write(dict(method="negation", mode="revert", sparsity=1.0, alpha=0.0, **m(neg), bits=bits_model(neg, cv),
                       seconds=time.time() - t, measured_on="this"))
            del neg
            continue
        methods, mode, sps, als = ps
        if mode not in a.modes: continue
        for meth in (m for m in methods if m in a.methods):
            for sp in sps:
                wanted = [al for al in als if (key, gs, cv, meth, mode, sp, al) not in have()]
                if not wanted: continue
                if meth not in sels:
                    t = time.time()
                    sels[meth] = selection(ft, meth, **{k: data[k] for k in METHOD_NEEDS[meth]}, progress=False)
                    log(f"selection {meth}: {time.time() - t:.0f} s")
                h, scores = sels[meth]
                t = time.time()
                conv = convert(copy.deepcopy(ft), sp, h, mode, method=meth, scores=scores, progress=False,
                               reference=base if mode == "revert" else None, **g)
                b, tc = bits_model(conv, cv), time.time() - t
                for al in wanted:
                    t = time.time()
                    if mode == "residual" and al == 0:                  # residual at alpha 0 is INT4 of the fine-tune
                        keep = [c for c in ("extraction", "exposure_mean", "exposure_max", "exposure_sample_mean",
                                            "general_ppl", "domain_ppl")]
                        row = dict(int4[keep].to_dict(), bits=b, seconds=0.0, measured_on=int4.name)
                    else:
                        set_alpha(conv, al)
                        row = dict(**m(conv), bits=b, seconds=time.time() - t + tc, measured_on="this")
                    write(dict(method=meth, mode=mode, sparsity=sp, alpha=al, **row))
                    tc = 0.0
                del conv
    log(f"done: {time.time() - t0:.0f} s")
    d = pd.read_csv(grid)
    print(d[d.finetune == key].round(4).to_string(index=False))
    return 0


if __name__ == "__main__": sys.exit(main())
