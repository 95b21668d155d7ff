"Save a converted model in this process, load it in a fresh one, compare; damaged folders fail with clear errors."
import json, os, shutil, subprocess, sys
import pytest, torch
from safetensors.torch import load_file, save_file
from libortho_nb.engine import alpha, compress
from libortho_nb.checkpoint import save_ortho
from libortho_nb.testing import tiny_model

IDS = torch.randint(0, 128, (2, 12), generator=torch.Generator().manual_seed(1))
CALIB = [torch.randint(0, 128, (2, 16), generator=torch.Generator().manual_seed(2))]


def outputs(m):
    "Logits and greedy generations at alpha 0 and 1, plus the state dict (cloned: tied tensors share memory)."
    res = {f"sd.{k}": v.detach().clone() for k, v in m.state_dict().items()}
    for a in (0.0, 1.0):
        with alpha(m, a), torch.no_grad():
            res[f"logits_{a}"] = m(IDS).logits
            res[f"gen_{a}"] = m.generate(IDS[:1], max_new_tokens=8, do_sample=False, pad_token_id=0)
    return res

# The loader runs in a fresh interpreter: nothing from this process (registrations, caches, modules) reaches it. It loads
# each (folder, out, how) of its arguments in turn: one interpreter for all the cases (each costs seconds of imports).
LOADER = r'''
import sys, torch
from safetensors.torch import save_file
import libortho_nb.checkpoint as C, libortho_nb.engine as E
from transformers import AutoModelForCausalLM
sys.path.insert(0, sys.argv[1])
from test_engine_roundtrip import outputs
jobs = sys.argv[2:]
for folder, out, how in zip(jobs[0::3], jobs[1::3], jobs[2::3]):
    m = C.load_ortho(folder) if how == "load_ortho" else AutoModelForCausalLM.from_pretrained(folder)
    assert len(E.ortho_layers(m)) > 0
    save_file(outputs(m), out)
'''

def load_elsewhere(*jobs):
    "Load each `(folder, out, how)` in one fresh interpreter, which writes `outputs(model)` to `out`."
    args = [str(a) for job in jobs for a in job]
    return subprocess.run([sys.executable, "-c", LOADER, os.path.dirname(__file__), *args], capture_output=True, text=True,
                          timeout=300)

ROUNDTRIPS = [("llama", "activation", "from_pretrained"), ("gpt2", "activation", "from_pretrained"), ("gpt2", "fisher", "load_ortho"),
              ("mixtral", "activation", "from_pretrained"), ("qwen2_moe", "fisher", "load_ortho")]

@pytest.fixture(scope="module")
def roundtrips(tmp_path_factory):
    "Every case compressed and saved here, then loaded by one fresh interpreter: {case: (model, its outputs there)}."
    t = tmp_path_factory.mktemp("roundtrips")
    models, jobs = {}, []
    for i, (kind, method, how) in enumerate(ROUNDTRIPS):
        m = compress(tiny_model(kind), CALIB, sparsity=0.03, method=method, group_size=32, progress=False)
        if how == "load_ortho": save_ortho(m, t / f"model{i}")
        else: m.save_pretrained(t / f"model{i}")
        models[i] = m
        jobs.append((t / f"model{i}", t / f"out{i}.safetensors", how))
    r = load_elsewhere(*jobs)
    assert r.returncode == 0, r.stderr[-3000:]
    return {case: (models[i], load_file(jobs[i][1])) for i, case in enumerate(ROUNDTRIPS)}

@pytest.mark.parametrize("kind,method,how", ROUNDTRIPS)
def test_roundtrip_in_another_process(roundtrips, kind, method, how):
    m, theirs = roundtrips[kind, method, how]
    mine = outputs(m)
    assert mine.keys() == theirs.keys()
    for k in mine:
        if k.startswith("sd.") or k.startswith("gen_"): assert mine[k].dtype == theirs[k].dtype and torch.equal(mine[k], theirs[k]), k
        else: torch.testing.assert_close(theirs[k], mine[k], rtol=1e-6, atol=1e-7)
    assert not torch.equal(mine["logits_0.0"], mine["logits_1.0"])      # the dial does something, on both sides

@pytest.fixture
def saved(tmp_path):
    m = compress(tiny_model("gpt2"), CALIB, sparsity=0.03, group_size=32, progress=False)
    save_ortho(m, tmp_path / "model")
    return tmp_path / "model"

def copy(saved, tmp_path, name):
    d = tmp_path / name; shutil.copytree(saved, d); return d

def test_truncated_file_is_a_clear_error_in_a_fresh_process(saved, tmp_path):
    d = copy(saved, tmp_path, "truncated")
    p = d / "model.safetensors"; b = p.read_bytes(); p.write_bytes(b[: len(b) // 2])
    r = load_elsewhere((d, tmp_path / "out.safetensors", "from_pretrained"))
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError:") and "model.safetensors is truncated or corrupted" in last, last

def test_flipped_byte_names_the_layer(saved, tmp_path):
    from transformers import AutoModelForCausalLM
    d = copy(saved, tmp_path, "flipped")
    p = d / "model.safetensors"; b = bytearray(p.read_bytes())
    n = int.from_bytes(b[:8], "little"); hdr = json.loads(b[8:8 + n])
    key = "transformer.h.1.mlp.c_fc.ortho_val"
    b[8 + n + hdr[key]["data_offsets"][0]] ^= 0x01; p.write_bytes(bytes(b))
    with pytest.raises(ValueError, match="transformer.h.1.mlp.c_fc: checksum mismatch"): AutoModelForCausalLM.from_pretrained(d)

def test_mismatched_shapes_and_keys_name_the_layer(saved, tmp_path):
    from transformers import AutoModelForCausalLM
    from libortho_nb.checkpoint import load_ortho
    d = copy(saved, tmp_path, "shapes")
    p = d / "model.safetensors"; sd = load_file(p)
    sd["transformer.h.0.attn.c_proj.qweight"] = sd["transformer.h.0.attn.c_proj.qweight"][:, :-2].contiguous()
    save_file(sd, p, metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"transformer.h.0.attn.c_proj: transformer.h.0.attn.c_proj.qweight has shape \[64, 30\]"): load_ortho(d)
    d = copy(saved, tmp_path, "keys")
    p = d / "model.safetensors"; sd = load_file(p); sd.pop("transformer.h.1.attn.c_attn.ortho_crow"); save_file(sd, p, metadata={"format": "pt"})
    with pytest.raises(ValueError, match="transformer.h.1.attn.c_attn: transformer.h.1.attn.c_attn.ortho_crow is missing"): AutoModelForCausalLM.from_pretrained(d)

def test_pickle_is_never_opened(saved, tmp_path):
    from transformers import AutoModelForCausalLM
    d = copy(saved, tmp_path, "pickle")
    os.remove(d / "model.safetensors")
    class Boom:                                                     # would run on unpickling, if anything unpickled it
        def __reduce__(self): return (os.mkdir, (str(tmp_path / "pwned"),))
    torch.save({"x": Boom()}, d / "pytorch_model.bin")
    with pytest.raises(ValueError, match="safetensors only"): AutoModelForCausalLM.from_pretrained(d)
    assert not (tmp_path / "pwned").exists()

def test_without_the_import_transformers_does_not_load_it_silently(saved, tmp_path):
    "Without `import libortho_nb`, transformers does not know 'libortho': it must at least say so (known limitation)."
    code = "import sys; from transformers import AutoModelForCausalLM; AutoModelForCausalLM.from_pretrained(sys.argv[1])"
    r = subprocess.run([sys.executable, "-c", code, str(saved)], capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert "Unknown quantization type, got libortho" in out, out[-2000:]
