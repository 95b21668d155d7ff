"""Calibration and decomposition time of SmolLM2-135M on this machine's cores (issue 13), with the library's progress bars.

    PYTHONPATH=. python benchmarks/real_timing.py      # torch's default threads; prints one line per method

Activation and Fisher curvature (32 x 256 Wikipedia calibration tokens) then `convert` at asym g96 + clip search, 1% Ortho;
then GPTQ's Hessians and `gptq_compress` with 1% in-loop Ortho at the same grid. Needs the real fixtures (fetched on first use)."""
import time, torch
from libortho_nb.lab.real import load_smollm2, real_text, token_batches
from libortho_nb.calibration import calibrate
from libortho_nb.engine import convert
from libortho_nb.gptq import hessians, gptq_compress
from libortho_nb.ops import BaseGrid
print("torch threads:", torch.get_num_threads())
model, tok = load_smollm2()
calib = [token_batches(tok, real_text("wiki", "calib"), 32, 256)]
grid = BaseGrid(group_size=96, asymmetric=True, clip_search=True)
for method in ("activation", "fisher"):
    t = time.time(); h = calibrate(model, calib, method=method, progress=True); tc = time.time() - t
    m, _ = load_smollm2()
    t = time.time(); convert(m, sparsity=0.01, h=h, method=method, grid=grid, progress=True); td = time.time() - t
    print(f"{method}: calibration {tc:.1f} s (32 x 256 tokens), decomposition {td:.1f} s (asym g96 clip, 1%)")
    del m, h
t = time.time(); H = hessians(model, calib, progress=True); th = time.time() - t
t = time.time(); gptq_compress(model, H, sparsity=0.01, grid=grid, progress=True); tg = time.time() - t
print(f"gptq: hessians {th:.1f} s, decomposition {tg:.1f} s (asym g96 clip, 1% in-loop)")
