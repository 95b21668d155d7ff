"""Model-level table of the CPU backend on SmolLM2-135M-Instruct (the real fixture): greedy decode and prefill
tokens/s of the libortho model (bf16, INT4 groups of 128, 1 % Ortho by magnitude) at alpha 1 and 0, unfused
and with `fuse_projections`, against the dense model in fp32 and bf16 (transformers) and llama.cpp on the same
GGUF file, all interleaved in one run; and the peak RSS of each loaded model, one fresh process each. Writes
results/cpu/model.csv and results/cpu/memory.csv.

    python benchmarks/cpu_model.py [--threads 1,2] [--reps 3] [--llama-python PATH]

llama.cpp runs in a separate venv with `llama-cpp-python` (a benchmark-only dependency, `make llamacpp-venv`),
through `benchmarks/llamacpp_worker.py`; without it the llama.cpp rows are left out and the script says so.
Decode tokens/s is measured as (tokens of a 40-token generation - tokens of an 8-token one) / the difference
of their times, so prompt processing and set-up cancel; prefill is one forward pass over a 128-token prompt.
Goals: decode >= 1.5x the dense fp32 model and >= 0.5x llama.cpp."""
import argparse, copy, csv, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_timing import boost

HERE = Path(__file__).resolve().parent
PROMPT = "The capital of France is"
TEXT = ("A linear layer stored as two streams computes a dense product with packed four-bit weights and adds a sparse "
        "correction for the entries that matter most. The privacy dial scales that correction, so the model can run "
        "with it or without it, and the benchmark measures how fast each choice decodes on a small machine. ") * 8


def cache_dir() -> Path:
    return Path(os.environ.get("LIBORTHO_CACHE") or Path.home() / ".cache" / "libortho_nb")


def model_folder() -> Path:
    "The converted fp32 SmolLM2 folder: from libortho_nb.lab.real when it is installed, else the shared cache."
    try:
        from libortho_nb.lab.real import smollm2_folder
        return smollm2_folder(progress=False)
    except ImportError:
        d = cache_dir() / "models" / "SmolLM2-135M-Instruct-fp32"
        if not (d / "config.json").exists():
            sys.exit(f"cpu_model: error: no converted SmolLM2 at {d} (set LIBORTHO_CACHE)")
        return d


def gguf_file() -> Path:
    try:
        from libortho_nb.lab.real import fetch
        return fetch("smollm2_gguf", progress=False)
    except ImportError:
        p = cache_dir() / "fixtures" / "smollm2_gguf" / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if not p.exists(): sys.exit(f"cpu_model: error: no GGUF at {p} (set LIBORTHO_CACHE)")
        return p


def rss(field="VmRSS") -> int:
    "This process's resident set (VmRSS) or its peak since exec (VmHWM; ru_maxrss would count the forked parent)."
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"): return int(line.split()[1]) * 1024


def ortho_model(dense):
    "The libortho model of `dense`: converted by magnitude, 1 % Ortho, INT4 groups of 128, cast to bf16."
    from libortho_nb.engine import convert
    return convert(copy.deepcopy(dense), sparsity=0.01, group_size=128, progress=False).to(torch.bfloat16).eval()


class Zeros(torch.nn.Module):
    "Stands in for a linear layer at no cost: the decode rate with every OrthoLinear free is the bound for ours."
    def __init__(self, n): super().__init__(); self.n = n
    def forward(self, x): return x.new_zeros(*x.shape[:-1], self.n)


def without_linears(model):
    "A copy of `model` whose OrthoLinear layers return zeros at once."
    from libortho_nb.layers import OrthoLinear
    m = copy.deepcopy(model)
    for parent in list(m.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, OrthoLinear): setattr(parent, name, Zeros(child.out_features))
    return m


class Worker:
    "The llama.cpp process: one JSON command per line."
    def __init__(self, python, gguf, threads):
        self.p = subprocess.Popen([python, str(HERE / "llamacpp_worker.py")], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        self.load = self.ask(op="load", gguf=str(gguf), threads=threads)

    def ask(self, **c):
        self.p.stdin.write(json.dumps(c) + "\n"); self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line: raise RuntimeError("the llama.cpp worker died")
        return json.loads(line)

    def close(self):
        self.p.stdin.close(); self.p.wait()


def memory_probe(variant, ckpt):
    "Run in a fresh process: RSS after the imports, after loading, after one generation (layouts built), peak."
    if variant == "libortho bf16, reference path": os.environ["LIBORTHO_CPU_BACKEND"] = "reference"
    import libortho_nb
    from libortho_nb.kernels.cpu import cpu_backend
    from transformers import AutoModelForCausalLM, AutoTokenizer
    torch.set_num_threads(1)
    folder = model_folder()
    tok = AutoTokenizer.from_pretrained(folder)
    base = rss()
    if variant.startswith("dense"):
        dt = torch.float32 if "fp32" in variant else torch.bfloat16
        m = AutoModelForCausalLM.from_pretrained(folder, dtype=dt).eval()
    else:
        m = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.bfloat16).eval()
    loaded = rss()
    ids = tok(PROMPT, return_tensors="pt").input_ids
    with torch.inference_mode(): m.generate(ids, max_new_tokens=4, do_sample=False)
    be = cpu_backend()
    print(json.dumps(dict(imports=base, loaded=loaded, generated=rss(),
                          peak=rss("VmHWM"),
                          layouts=be.memory()["total"] if be is not None else 0)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--llama-python", default=os.environ.get("LLAMA_CPP_PYTHON",
                                                             str(HERE.parent / ".venv-llamacpp/bin/python")))
    ap.add_argument("--out", default="results/cpu")
    ap.add_argument("--memory-only", action="store_true", help="only the memory table")
    ap.add_argument("--memory", help=argparse.SUPPRESS)
    ap.add_argument("--ckpt", help=argparse.SUPPRESS)
    ap.add_argument("--boost", action="store_true",
                    help="raise this session's scheduler weight first (Linux, root), so other sessions' jobs yield")
    a = ap.parse_args()
    boosted = boost() if a.boost else False
    if a.boost: print(f"autogroup boost: {boosted}")
    if a.memory: return memory_probe(a.memory, a.ckpt)
    import libortho_nb
    from libortho_nb.kernels.cpu import CpuBackend, CpuSettings, fuse_projections
    from libortho_nb.layers import register_backend
    from transformers import AutoModelForCausalLM, AutoTokenizer
    Ts = [int(v) for v in a.threads.split(",")]
    folder = model_folder()
    tok = AutoTokenizer.from_pretrained(folder)
    fp32 = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    bf16 = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).eval()
    ortho = ortho_model(fp32)
    fused = copy.deepcopy(ortho)
    be = CpuBackend(CpuSettings(threads=None))                    # the cell's thread count; cpu_threads.py: the policy
    register_backend("cpu", be)
    fuse_projections(fused, be)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if not a.memory_only: speed(a, Ts, tok, fp32, bf16, ortho, fused, out)
    memory(a, ortho, out)


def speed(a, Ts, tok, fp32, bf16, ortho, fused, out):
    "The decode and prefill table, interleaved."
    from libortho_nb.engine import set_alpha
    ids = tok(PROMPT, return_tensors="pt").input_ids
    pre = tok(TEXT, return_tensors="pt").input_ids[:, :128]
    variants = {"dense fp32": (fp32, None), "dense bf16": (bf16, None), "libortho bf16, alpha 1": (ortho, 1.0),
                "libortho bf16, alpha 0": (ortho, 0.0), "libortho bf16 fused, alpha 1": (fused, 1.0),
                "libortho bf16 fused, alpha 0": (fused, 0.0),
                "bound: libortho with free linear layers": (without_linears(ortho), None)}
    worker = None
    if Path(a.llama_python).exists():
        worker = Worker(a.llama_python, gguf_file(), Ts)
        variants["llama.cpp Q4_1 GGUF"] = (None, None)
    else: print(f"no llama-cpp-python at {a.llama_python}: llama.cpp rows left out (make llamacpp-venv)")

    def gen(m, n):
        with torch.inference_mode(): m.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False)

    def measure(name, t):
        m, alpha = variants[name]
        if m is None:
            d = worker.ask(op="decode", threads=t, prompt=PROMPT, n=32)["s"]
            p = worker.ask(op="prefill", threads=t, text=TEXT, n=128)
            return 32 / d, p["tokens"] / p["s"]
        torch.set_num_threads(t)
        if alpha is not None: set_alpha(m, alpha)
        t0 = time.perf_counter(); gen(m, 8); t1 = time.perf_counter(); gen(m, 40); t2 = time.perf_counter()
        with torch.inference_mode():
            t3 = time.perf_counter(); m(pre); t4 = time.perf_counter()
        return 32 / ((t2 - t1) - (t1 - t0)), pre.shape[1] / (t4 - t3)
    names = list(variants)
    for t in Ts:
        for n in names: measure(n, t)                               # warm-up: layouts built, caches filled
    res = {(n, t): [] for n in names for t in Ts}
    for r in range(a.reps):
        for t in Ts:
            for n in names[r % len(names):] + names[:r % len(names)]:
                res[n, t].append(measure(n, t))
                print(f"rep {r} threads {t} {n}: decode {res[n, t][-1][0]:.1f} tok/s, prefill {res[n, t][-1][1]:.0f}",
                      flush=True)
    rows = []
    for t in Ts:
        med = {n: tuple(statistics.median(v[i] for v in res[n, t]) for i in (0, 1)) for n in names}
        for n in names:
            r = dict(model=n, threads=t, decode_tok_s=round(med[n][0], 2), prefill_tok_s=round(med[n][1], 1),
                     decode_over_fp32=round(med[n][0] / med["dense fp32"][0], 3),
                     prefill_over_fp32=round(med[n][1] / med["dense fp32"][1], 3))
            if worker is not None:
                r |= dict(decode_over_llamacpp=round(med[n][0] / med["llama.cpp Q4_1 GGUF"][0], 3),
                          prefill_over_llamacpp=round(med[n][1] / med["llama.cpp Q4_1 GGUF"][1], 3))
            rows.append(r)
    with open(out / "model.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
    print(f"\nSmolLM2-135M-Instruct, greedy; medians of {a.reps} interleaved repetitions")
    for r in rows: print(" | ".join(f"{k}={v}" for k, v in r.items()))
    if worker is not None: worker.close()


def memory(a, ortho, out):
    "The memory table: one fresh process per model."
    from libortho_nb.checkpoint import save_ortho
    mem = []
    with tempfile.TemporaryDirectory() as d:
        save_ortho(ortho, d)
        for v in ("dense fp32", "dense bf16", "libortho bf16", "libortho bf16, reference path"):
            p = subprocess.run([sys.executable, __file__, "--memory", v, "--ckpt", d], capture_output=True, text=True)
            if p.returncode: sys.exit(f"cpu_model: error: memory probe {v!r} failed: {p.stderr[-2000:]}")
            m = json.loads(p.stdout.strip().splitlines()[-1])
            mem.append(dict(model=v, loaded_mib=round((m["loaded"] - m["imports"]) / 2**20, 1),
                            after_generate_mib=round((m["generated"] - m["imports"]) / 2**20, 1),
                            peak_rss_mib=round(m["peak"] / 2**20, 1), imports_rss_mib=round(m["imports"] / 2**20, 1),
                            layouts_mib=round(m["layouts"] / 2**20, 1)))
    if Path(a.llama_python).exists():
        worker = Worker(a.llama_python, gguf_file(), [1])
        ld = worker.load
        mem.append(dict(model="llama.cpp Q4_1 GGUF",
                        loaded_mib=round((ld["rss_after"] - ld["rss_before"]) / 2**20, 1), after_generate_mib="",
                        peak_rss_mib=round(ld["rss_peak"] / 2**20, 1),
                        imports_rss_mib=round(ld["rss_before"] / 2**20, 1),
                        layouts_mib=""))
        worker.close()
    with open(out / "memory.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(mem[0])); w.writeheader(); w.writerows(mem)
    print("\nmemory (MiB above the process after its imports; peak RSS of the whole process)")
    for r in mem: print(" | ".join(f"{k}={v}" for k, v in r.items()))
    print(f"wrote {out / 'model.csv'} and {out / 'memory.csv'}")


if __name__ == "__main__":
    main()
