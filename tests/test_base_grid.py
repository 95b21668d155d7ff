"""One `BaseGrid` for the Base stream's grid: the streaming and GPTQ entry points take it as `grid=`, with the same result as the
three loose keyword arguments, and the saved config gives it back."""
import pytest, torch
from safetensors.torch import load_file
from libortho_nb.ops import BaseGrid
from libortho_nb.engine import ortho_layers
from libortho_nb.gptq import gptq_compress, hessians
from libortho_nb.streaming import compress_checkpoint
from libortho_nb.checkpoint import load_ortho
from libortho_nb.testing import tiny_model

GRID = BaseGrid(32, asymmetric=True, clip_search=True)
LOOSE = dict(group_size=32, asymmetric=True, clip_search=True)

def calib(): return [torch.randint(0, 128, (2, 16), generator=torch.Generator().manual_seed(0))]

def test_compress_checkpoint_takes_a_grid(tmp_path):
    tiny_model("llama").save_pretrained(tmp_path / "dense")
    compress_checkpoint(tmp_path / "dense", tmp_path / "grid", calib(), 0.02, grid=GRID, progress=False)
    compress_checkpoint(tmp_path / "dense", tmp_path / "loose", calib(), 0.02, progress=False, **LOOSE)
    def tensors(d): return {k: v for f in sorted(d.glob("*.safetensors")) for k, v in load_file(f).items()}
    a, b = tensors(tmp_path / "grid"), tensors(tmp_path / "loose")
    assert a
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert load_ortho(tmp_path / "grid").config.quantization_config.grid == GRID
    with pytest.raises(ValueError, match="not both"):
        compress_checkpoint(tmp_path / "dense", tmp_path / "both", calib(), grid=GRID, group_size=64, progress=False)
    assert not (tmp_path / "both").exists()

def test_gptq_compress_takes_a_grid():
    H = hessians(tiny_model("llama"), calib(), progress=False)
    a = gptq_compress(tiny_model("llama"), H, 0.02, grid=GRID, progress=False)
    b = gptq_compress(tiny_model("llama"), H, 0.02, progress=False, **LOOSE)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.config.quantization_config.grid == GRID
    assert {(l.group_size, l.asymmetric) for l in ortho_layers(a).values()} == {(32, True)}
    with pytest.raises(ValueError, match="not both"): gptq_compress(tiny_model("llama"), H, grid=GRID, asymmetric=False)
    with pytest.raises(TypeError, match="BaseGrid or None"): gptq_compress(tiny_model("llama"), H, grid=LOOSE)
