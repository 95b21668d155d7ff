"""GPTQ in streaming on SmolLM2-135M (issue 13): `compress_checkpoint(..., base="gptq")` against `hessians` +
`gptq_compress` + `save_ortho` in memory, on the cached SmolLM2 safetensors folder (libortho_nb.lab.real).

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/stream_gptq_smollm2.py [--parallel] [--out results/real/stream_gptq.csv]

Each way runs in its own child process on one torch thread, so its peak resident memory (VmHWM) and wall time are its own;
`--parallel` runs the two children at the same time (shorter, but each then shares the machine with the other). Settings:
the Base grid of the LibOrtho rows of `real_utility.py` (asymmetric groups of 96, clip search), 1% Ortho chosen in the GPTQ
loop, Hessians from 16 x 256 tokens of the Wikipedia calibration split, dampening 0.01, no act-order. Then every tensor of
the two folders and their libortho_config.json are compared; one CSV row per way, with `identical` and the tensor count.
"""
import argparse, csv, glob, json, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "real" / "stream_gptq.csv"

JOB = r'''
import sys, json, time, torch
torch.set_num_threads(1)
from transformers import AutoTokenizer, AutoModelForCausalLM
from transformers.utils import logging as hf_logging
hf_logging.set_verbosity_error()
from libortho_nb.lab.real import smollm2_folder, real_text, token_batches
dst, how = sys.argv[1], sys.argv[2]
src = smollm2_folder(progress=False)
tok = AutoTokenizer.from_pretrained(src)
calib = [token_batches(tok, real_text("wiki", "calib"), 16, 256)]
kw = dict(group_size=96, asymmetric=True, clip_search=True, progress=False)
t0 = time.time()
if how == "stream":
    from libortho_nb.streaming import compress_checkpoint
    compress_checkpoint(src, dst, calib, sparsity=0.01, base="gptq", **kw)
else:
    from libortho_nb.gptq import hessians, gptq_compress
    from libortho_nb.checkpoint import save_ortho
    m = AutoModelForCausalLM.from_pretrained(src)
    gptq_compress(m, hessians(m, calib, progress=False), 0.01, **kw)
    save_ortho(m, dst)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps(dict(peak_rss_mib=round(hwm / 1024, 1), compress_s=round(time.time() - t0, 1),
                      threads=torch.get_num_threads())))
'''


def tensors(d):
    from safetensors.torch import load_file
    return {k: v for f in sorted(glob.glob(f"{d}/*.safetensors")) for k, v in load_file(f).items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parallel", action="store_true", help="run the two children at the same time")
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args(argv)
    import os, torch
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    tmp = tempfile.mkdtemp()
    dirs = {how: f"{tmp}/{how}" for how in ("stream", "memory")}
    procs, res = {}, {}
    for how in dirs:
        t0 = time.time()
        procs[how] = (subprocess.Popen([sys.executable, "-c", JOB, dirs[how], how], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, env=env), t0)
        if not a.parallel: procs[how] = procs[how][0].communicate() + (procs[how][0].returncode, time.time() - t0)
    for how, v in procs.items():
        if a.parallel: v = v[0].communicate() + (v[0].returncode, time.time() - v[1])
        out, err, rc, wall = v
        if rc: sys.exit(f"{how} failed (exit {rc}): {err[-3000:]}")
        res[how] = json.loads(out.strip().splitlines()[-1]) | dict(process_s=round(wall, 1))
    ta, tb = tensors(dirs["stream"]), tensors(dirs["memory"])
    same = sorted(ta) == sorted(tb) and all(ta[k].dtype == tb[k].dtype and torch.equal(ta[k], tb[k]) for k in ta)
    cfg = [json.load(open(f"{d}/libortho_config.json")) for d in dirs.values()]
    same = same and cfg[0] == cfg[1]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    rows = [dict(how=how, base="gptq", grid="asym g96 clip", sparsity=0.01, calib="16x256", parallel=a.parallel,
                 identical=same, tensors=len(ta), **r) for how, r in res.items()]
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader(); w.writerows(rows)
    for r in rows: print(r)


if __name__ == "__main__":
    main()
