"""Streaming decomposition of a checkpoint with Llama-3.2-3B shapes (random bf16 weights): wall time and peak RSS, 14 vs 28 layers.

    python benchmarks/stream_llama3b.py [--layers 14 28] [--tmp /tmp] > benchmarks/stream_llama3b.out

Each step runs in its own child process, so that its peak resident memory (`ru_maxrss` from `os.wait4`) is its own:
1. write a checkpoint with the real Llama-3.2-3B shapes (hidden 3072, intermediate 8192, 24 heads, 8 KV heads, vocab 128256,
   tied embeddings) and random bf16 weights, one shard per decoder block plus one for the embeddings, never holding more than
   one block (or the embedding table) in memory;
2. `compress_checkpoint` it at 1% sparsity with activation calibration on 8 random sequences of 256 tokens.
The checkpoints are deleted afterwards. Times on this shared 2-core machine are noisy: compare the two sizes side by side.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time

SHAPES = dict(hidden_size=3072, intermediate_size=8192, num_attention_heads=24, num_key_value_heads=8, head_dim=128,
              vocab_size=128256, tie_word_embeddings=True, rms_norm_eps=1e-5, rope_theta=500000.0,
              max_position_embeddings=131072, bos_token_id=128000, eos_token_id=128001)


def vm_hwm_mb() -> float:
    "This process's peak resident set so far (VmHWM), in MB."
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"): return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def write_checkpoint(folder: str, n_layers: int, seed: int = 0):
    "A sharded bf16 checkpoint of `n_layers` Llama-3.2-3B blocks, written block by block."
    import torch
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(num_hidden_layers=n_layers, dtype="bfloat16", **SHAPES)
    cfg.architectures = ["LlamaForCausalLM"]
    os.makedirs(folder, exist_ok=True)
    cfg.save_pretrained(folder)
    with torch.device("meta"): skel = LlamaForCausalLM(cfg)     # only for the tensor names and shapes
    g = torch.Generator().manual_seed(seed)
    def rand(shape, std=0.02):
        t = torch.empty(shape, dtype=torch.bfloat16)
        flat = t.view(-1)
        for a in range(0, flat.numel(), 1 << 24):                 # 16M entries of float32 scratch at a time
            n = min(1 << 24, flat.numel() - a)
            flat[a:a + n] = (torch.randn(n, generator=g) * std).to(torch.bfloat16)
        return t
    shapes = {k: tuple(v.shape) for k, v in skel.state_dict().items() if k != "lm_head.weight"}   # tied: saved once
    groups = [[k for k in shapes if not k.startswith("model.layers.")]]
    groups += [[k for k in shapes if k.startswith(f"model.layers.{i}.")] for i in range(n_layers)]
    n, weight_map, total = len(groups), {}, 0
    for j, keys in enumerate(groups):
        name = f"model-{j + 1:05d}-of-{n:05d}.safetensors"
        sd = {k: (torch.ones(shapes[k], dtype=torch.bfloat16) if k.endswith("norm.weight") else rand(shapes[k])) for k in keys}
        save_file(sd, os.path.join(folder, name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(sd, name)); total += sum(t.numel() * 2 for t in sd.values())
        del sd
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, open(os.path.join(folder, "model.safetensors.index.json"), "w"), indent=2)
    print(json.dumps(dict(step="write", layers=n_layers, gb=round(total / 1e9, 3), peak_rss_mb=round(vm_hwm_mb()))), flush=True)


def decompose(src: str, dst: str):
    "`compress_checkpoint` at 1% sparsity, activation calibration on 8 x 256 random tokens."
    import torch
    import libortho_nb.streaming as st
    after_import = vm_hwm_mb()
    phases = {}                     # name -> [calls, seconds, MB by which its calls raised the peak RSS (VmHWM), in total]
    def timed(name, fn):
        def wrapper(*a, **k):
            h, t = vm_hwm_mb(), time.perf_counter(); r = fn(*a, **k)
            p = phases.setdefault(name, [0, 0.0, 0.0]); p[0] += 1; p[1] += time.perf_counter() - t; p[2] += vm_hwm_mb() - h
            return r
        return wrapper
    for name in ("_prologue", "_load_block", "_run_block", "_decompose_block", "save_file", "copy_tensors"):
        setattr(st, name, timed(name, getattr(st, name)))           # module globals: compress_checkpoint looks them up per call
    calib = torch.randint(0, SHAPES["vocab_size"], (8, 256), generator=torch.Generator().manual_seed(1))
    t = time.perf_counter()
    st.compress_checkpoint(src, dst, calib, sparsity=0.01, method="activation", progress=True)
    wall = time.perf_counter() - t
    size = sum(os.path.getsize(os.path.join(dst, f)) for f in os.listdir(dst))
    print(json.dumps(dict(step="decompose", wall_s=round(wall, 1), peak_rss_after_imports_mb=round(after_import),
                          peak_rss_mb=round(vm_hwm_mb()), out_gb=round(size / 1e9, 3), threads=torch.get_num_threads(),
                          phases={k: dict(calls=c, s=round(t, 1), raised_mb=round(h)) for k, (c, t, h) in phases.items()})), flush=True)


def child(*args) -> tuple[dict, float, float, float]:
    "Run this script with `args` in a child process: its last JSON line, wall seconds, peak RSS (MB) and CPU seconds from wait4."
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode: raise SystemExit(f"child {args} failed with exit code {p.returncode}")
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    return json.loads(line), time.perf_counter() - t, ru.ru_maxrss / 1024, ru.ru_utime + ru.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, nargs="+", default=[14, 28])
    ap.add_argument("--tmp", default=tempfile.gettempdir())
    ap.add_argument("--write"); ap.add_argument("--decompose", nargs=2); ap.add_argument("--n", type=int)
    a = ap.parse_args()
    if a.write: return write_checkpoint(a.write, a.n)
    if a.decompose: return decompose(*a.decompose)
    print(f"# stream_llama3b: Llama-3.2-3B shapes, random bf16 weights, 1% sparsity, activation calibration 8 x 256 tokens")
    print(f"# machine: {os.cpu_count()} CPUs, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB RAM; "
          f"free disk in {a.tmp}: {shutil.disk_usage(a.tmp).free / 2**30:.0f} GiB", flush=True)
    rows = []
    for n in a.layers:
        root = tempfile.mkdtemp(prefix=f"stream_llama3b_{n}_", dir=a.tmp)
        try:
            src, dst = os.path.join(root, "dense"), os.path.join(root, "ortho")
            w, w_wall, w_rss, _ = child("--write", src, "--n", str(n))
            print(f"layers={n}: wrote {w['gb']} GB in {w_wall:.0f} s (writer peak RSS {w_rss:.0f} MB)", flush=True)
            load0 = os.getloadavg()[0]
            d, d_wall, d_rss, d_cpu = child("--decompose", src, dst)
            rows.append((n, d["wall_s"], d_rss, d_cpu))
            print(f"layers={n}: decomposition {d['wall_s']:.1f} s wall (process {d_wall:.1f} s with imports, {d_cpu:.0f} CPU s), "
                  f"peak RSS {d_rss:.0f} MB (after imports {d['peak_rss_after_imports_mb']} MB), output {d['out_gb']} GB; "
                  f"machine load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after", flush=True)
            print(f"layers={n}: per phase: calls, seconds, MB by which it raised the peak RSS above the {d['peak_rss_after_imports_mb']} MB "
                  "after imports: " + "; ".join(f"{k.strip('_')} {v['calls']}x {v['s']} s +{v['raised_mb']} MB" for k, v in d["phases"].items()), flush=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    if len(rows) == 2:
        (n1, t1, r1, c1), (n2, t2, r2, c2) = rows
        print(f"scaling {n1} -> {n2} layers: wall time x{t2 / t1:.2f}, CPU time x{c2 / c1:.2f}, peak RSS x{r2 / r1:.2f} ({r1:.0f} -> {r2:.0f} MB)")
    print(f"goal peak RSS <= 3 GB (3072 MB): {'held' if all(r[2] <= 3072 for r in rows) else 'NOT held'}")


if __name__ == "__main__": main()
