"""The anchor library (issue 13): llmcompressor's GPTQ against ours on SmolLM2's first decoder block, same calibration.

llmcompressor (0.14.0.1) runs on CPU here, in its own venv (it pins transformers <= 5.17):

    python3 -m venv /tmp/anchor && /tmp/anchor/bin/pip install torch==2.13.0 llmcompressor==0.14.0.1
    PYTHONPATH=. python benchmarks/anchor_llmcompressor.py prep                      # tokens -> /tmp/anchor_tokens.pt
    for g in "sym 64" "asym 64" "asym 96"; do /tmp/anchor/bin/python benchmarks/anchor_llmcompressor.py quantize $g; done
    PYTHONPATH=. python benchmarks/anchor_llmcompressor.py compare sym_g64 asym_g64 asym_g96

It refuses group size 128 on this model: 576 input columns are not a multiple of 128 (its divisibility check; with
`bypass_divisibility_checks=True` its observer fails with "unflatten: Provided sizes [-1, 128] don't multiply up to the size
of dim 1 (576)"). So the comparison is at groups of 64 and 96, which divide 576 and 1536. Both sides use the benchmark's
16 x 256 Wikipedia calibration windows, dampening 0.01, no act-order, minmax grids (no clip search). Block 0 only: its
inputs are the dense model's for both (llmcompressor calibrates block by block on quantized outputs; `hessians` on the
dense model), so both minimise the same objective `tr(dW H dW^T)`, reported per layer with H from `hessians`.
Writes results/real/anchor_llmcompressor_block0.csv.
"""
import sys
from pathlib import Path
import torch

TOKENS = Path("/tmp/anchor_tokens.pt")
OUT = Path(__file__).resolve().parents[1] / "results" / "real" / "anchor_llmcompressor_block0.csv"


def prep():
    from transformers import AutoTokenizer
    from libortho_nb.lab.real import smollm2_folder, real_text, token_batches
    folder = smollm2_folder(progress=False)
    tok = AutoTokenizer.from_pretrained(folder)
    torch.save(dict(calib=token_batches(tok, real_text("wiki", "calib"), 16, 256), folder=str(folder)), TOKENS)


def one_block(folder):
    from transformers import AutoModelForCausalLM
    m = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    m.model.layers = m.model.layers[:1]; m.config.num_hidden_layers = 1
    return m


def quantize(grid, gs):
    "In the anchor venv: llmcompressor's GPTQ on block 0; saves its (dequantized) weights, scales and zero points."
    from datasets import Dataset
    from llmcompressor import oneshot
    from llmcompressor.modifiers.quantization import GPTQModifier
    d = torch.load(TOKENS)
    model = one_block(d["folder"])
    ds = Dataset.from_dict({"input_ids": d["calib"].tolist(), "attention_mask": torch.ones_like(d["calib"]).tolist()})
    groups = {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "int", "symmetric": grid == "sym",
                                                              "strategy": "group", "group_size": int(gs)}}}
    oneshot(model=model, dataset=ds, recipe=GPTQModifier(config_groups=groups, ignore=["lm_head"], actorder=None),
            max_seq_length=256, num_calibration_samples=16)
    torch.save(model.state_dict(), f"/tmp/anchor_{grid}_g{gs}.pt")


def compare(tags):
    import pandas as pd
    from libortho_nb.gptq import hessians, gptq_decompose
    from libortho_nb.ops import quantize_int4, dequantize_int4
    torch.set_num_threads(1)
    d = torch.load(TOKENS)
    m = one_block(d["folder"])
    H = hessians(m, [d["calib"]], progress=False)
    rows = []
    for tag in tags:
        grid, gs = tag.split("_g")[0], int(tag.split("_g")[1])
        sd = torch.load(f"/tmp/anchor_{tag}.pt")
        for n, h in H.items():
            w = m.get_submodule(n).weight.detach()
            theirs = sd[n + ".weight"].float()
            s, z = (sd[n + k].float().repeat_interleave(gs, 1) for k in (".weight_scale", ".weight_zero_point"))
            on_grid = torch.allclose((torch.round(theirs / s + z) - z) * s, theirs, atol=1e-6)
            ours = dequantize_int4(gptq_decompose(w, h, 0.0, gs, grid == "asym")[0])
            rtn = dequantize_int4(quantize_int4(w, gs, grid == "asym"))
            obj = lambda q: torch.trace((q - w).double() @ h.double() @ (q - w).double().T).item()
            rows.append((tag, n.split("layers.0.")[1], obj(rtn), obj(ours), obj(theirs), on_grid))
    df = pd.DataFrame(rows, columns=["grid", "layer", "rtn", "ours", "llmcompressor", "anchor_on_grid"])
    df["ours/llmc"] = df.ours / df.llmcompressor
    df.to_csv(OUT, index=False)
    print(df.round(4).to_string(index=False))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "prep": prep()
    elif cmd == "quantize": quantize(*sys.argv[2:4])
    elif cmd == "compare": compare(sys.argv[2:])
    else: raise SystemExit(f"unknown command {cmd!r}: prep, quantize GRID GS or compare TAG...")
