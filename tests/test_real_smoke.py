"""The real-model path end to end on SmolLM2-135M-Instruct (marker `real`: `make real` or `pytest -m real`; the first run
downloads the fixtures, see libortho_nb.lab.real): fetch and load, compress, save_ortho, reload in a fresh process,
generate, and a held-out perplexity bound that a randomly initialised model of the same architecture fails."""
import json, subprocess, sys
import pytest, torch
from libortho_nb.engine import compress
from libortho_nb.checkpoint import save_ortho

pytestmark = pytest.mark.real
BOUND = 60.0   # perplexity on 2 x 256 held-out Wikipedia tokens; fp32 SmolLM2 scores about 20, random weights about 10^5

# A fresh interpreter: load the saved folder with plain transformers, generate greedily, score the held-out text.
LOADER = r'''
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from libortho_nb.engine import ortho_layers
from libortho_nb.lab.real import perplexity, real_text, token_batches
torch.set_num_threads(1)
m = AutoModelForCausalLM.from_pretrained(sys.argv[1]).eval()
tok = AutoTokenizer.from_pretrained(sys.argv[1])
ids = tok("The capital of France is", return_tensors="pt").input_ids
gen = m.generate(ids, max_new_tokens=8, do_sample=False)
ppl = perplexity(m, token_batches(tok, real_text("wiki", "test"), 2, 256))
print(json.dumps(dict(layers=len(ortho_layers(m)), text=tok.decode(gen[0, ids.shape[1]:]), ppl=ppl)))
'''

def test_smollm2_compress_save_reload_generate(tmp_path):
    from libortho_nb.lab.real import load_smollm2, perplexity, real_text, token_batches
    torch.set_num_threads(1)
    model, tok = load_smollm2(progress=False)
    calib = token_batches(tok, real_text("wiki", "calib"), 4, 128)
    compress(model, [calib], sparsity=0.01, method="activation", progress=False)
    save_ortho(model, tmp_path / "smol")
    tok.save_pretrained(tmp_path / "smol")
    r = subprocess.run([sys.executable, "-c", LOADER, str(tmp_path / "smol")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["layers"] == 30 * 7                                  # every projection of the 30 blocks
    assert len(got["text"].strip()) > 0
    assert got["ppl"] < BOUND, got
    rand = type(model)(model.config).eval()                        # same architecture, random weights
    assert perplexity(rand, token_batches(tok, real_text("wiki", "test"), 1, 256)) > BOUND
