"""Streaming an MoE checkpoint vs compressing it in memory: identical folders or not, wall time and peak RSS, side by side.

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/moe_stream.py [--calib 32] [--group-size 32] [--wide]

For `models/moe-small` (a fused-experts Mixtral, float16), and with `--wide` also a wider random Mixtral with the same layout
(hidden 512, experts of width 1408, 8 experts, 8 blocks, float16, saved with `save_pretrained`), two child processes each:
- "in memory": `AutoModelForCausalLM.from_pretrained` + `compress` + `save_ortho`;
- "streamed": `compress_checkpoint` (one block at a time from the safetensors files).
Both at sparsity 1%, activation calibration on `--calib` windows of 256 bytes from the corpus's train split (as
`benchmarks/moe_experts.py`), group size `--group-size`. Each child reports its wall time and its peak resident memory
(VmHWM) after its imports and at the end, so that the peak above the imports is its own. The parent then compares every
tensor of the two folders (names, dtypes, values) and the three JSON configs. Writes results/moe_experts/moe_stream.csv.
Times on this shared 2-core machine are noisy: compare the two rows of one model, not across runs.
"""
import argparse, glob, json, os, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def vm_hwm_mb() -> float:
    "This process's peak resident set so far (VmHWM), in MB."
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"): return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(how: str, src: str, dst: str, calib_path: str, group_size: int):
    "One compression in this process; prints a JSON line with its time and peak RSS."
    import warnings
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging
    from libortho_nb.engine import compress
    from libortho_nb.checkpoint import save_ortho
    from libortho_nb.streaming import compress_checkpoint
    torch.set_num_threads(1); hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar()
    calib = torch.load(calib_path)
    imports = vm_hwm_mb()
    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if how == "in memory":
            m = compress(AutoModelForCausalLM.from_pretrained(src), calib, sparsity=0.01, group_size=group_size,
                         progress=False)
            save_ortho(m, dst)
        else:
            compress_checkpoint(src, dst, calib, sparsity=0.01, group_size=group_size, progress=False)
    secs = time.perf_counter() - t
    said = [str(w.message) for w in caught if str(w.message).startswith("libortho:")]
    print(json.dumps(dict(how=how, seconds=round(secs, 2), import_rss_mb=round(imports), peak_rss_mb=round(vm_hwm_mb()),
                          warnings=len(said), warning=said[0][:120] if said else "")), flush=True)


def compare(a: str, b: str) -> tuple[int, int, bool]:
    "`(tensors compared, tensors that differ, configs equal)` of the checkpoint folders `a` and `b`."
    import torch
    from safetensors.torch import load_file
    def tensors(d): return {k: v for f in sorted(glob.glob(f"{d}/*.safetensors")) for k, v in load_file(f).items()}
    ta, tb = tensors(a), tensors(b)
    keys = sorted(set(ta) | set(tb))
    differ = [k for k in keys if k not in ta or k not in tb or ta[k].dtype != tb[k].dtype or not torch.equal(ta[k], tb[k])]
    configs = all(json.load(open(f"{a}/{f}")) == json.load(open(f"{b}/{f}"))
                  for f in ("config.json", "libortho_config.json", "generation_config.json"))
    return len(keys), len(differ), configs


def wide_mixtral(folder: str):
    "A random float16 Mixtral with moe-small's layout, wider: hidden 512, experts of width 1408, 8 experts, 8 blocks."
    import torch, transformers
    cfg = transformers.MixtralConfig(vocab_size=256, hidden_size=512, intermediate_size=1408, num_hidden_layers=8,
                                     num_attention_heads=8, num_key_value_heads=8, num_local_experts=8,
                                     num_experts_per_tok=2, tie_word_embeddings=True)
    torch.manual_seed(0)
    transformers.MixtralForCausalLM(cfg).half().save_pretrained(folder, max_shard_size="50MB")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--calib", type=int, default=32)
    p.add_argument("--group-size", type=int, default=32)
    p.add_argument("--wide", action="store_true", help="also a wider random Mixtral (about 150M parameters)")
    p.add_argument("--child", nargs=4, metavar=("HOW", "SRC", "DST", "CALIB"))
    p.add_argument("--out", default=str(ROOT / "results" / "moe_experts" / "moe_stream.csv"))
    a = p.parse_args()
    if a.child: return child(a.child[0].replace("_", " "), *a.child[1:], a.group_size)
    import pandas as pd, torch
    from libortho_nb.lab.corpus import stdlib_corpus, split_corpus, encode_bytes
    tmp = tempfile.mkdtemp(prefix="moe_stream_")
    train, _ = split_corpus(stdlib_corpus())
    stream = encode_bytes(train)
    g = torch.Generator().manual_seed(0)
    starts = torch.randint(0, len(stream) - 257, (a.calib,), generator=g).tolist()
    torch.save([stream[s:s + 256].long()[None] for s in starts], f"{tmp}/calib.pt")
    models = {"moe-small": str(ROOT / "models" / "moe-small")}
    if a.wide:
        wide_mixtral(f"{tmp}/wide")
        models["wide random Mixtral"] = f"{tmp}/wide"
    rows = []
    for name, src in models.items():
        size = sum(os.path.getsize(f) for f in glob.glob(f"{src}/*.safetensors")) / 2**20
        outs = {}
        for how in ("in memory", "streamed"):
            outs[how] = f"{tmp}/{name.replace(' ', '_')}_{how.replace(' ', '_')}"
            r = subprocess.run([sys.executable, __file__, "--group-size", str(a.group_size), "--child",
                                how.replace(" ", "_"), src, outs[how], f"{tmp}/calib.pt"],
                               capture_output=True, text=True, env=os.environ)
            if r.returncode: sys.exit(f"{name}, {how}: the child failed:\n{r.stderr[-3000:]}")
            row = json.loads(r.stdout.strip().splitlines()[-1])
            rows.append(dict(model=name, checkpoint_mb=round(size, 1), **row,
                             peak_above_imports_mb=row["peak_rss_mb"] - row["import_rss_mb"]))
            print(rows[-1], flush=True)
        n, differ, configs = compare(outs["in memory"], outs["streamed"])
        for r in rows[-2:]: r.update(tensors_compared=n, tensors_differing=differ, configs_equal=configs,
                                     identical=differ == 0 and configs)
        print(name, dict(tensors_compared=n, tensors_differing=differ, configs_equal=configs), flush=True)
    df = pd.DataFrame(rows)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(a.out, index=False)
    print(df.drop(columns=["warning"]).to_string(index=False))


if __name__ == "__main__":
    main()
