"""A table-driven sweep of bad input to the public API: every case raises TypeError or ValueError (FileNotFoundError for a
missing path) with a message that names what was expected and shows what arrived, and a failed call changes nothing on
disk. `CASES` is the table: (name, callable, exception types, fragments the message must contain)."""
import hashlib, math, os
from pathlib import Path
import pytest, torch
from torch import nn
import libortho_nb as lo
from libortho_nb.checks import check_int, check_real, check_choice
from libortho_nb.ops import quantize_int4, dequantize_int4, decompose, impact_scores, check_weight, csr_from_flat
from libortho_nb.layers import OrthoLinear, check_alpha
from libortho_nb.calibration import calibrate, calibration_batches, read_texts
from libortho_nb.engine import convert, compress, selection, set_alpha
from libortho_nb.checkpoint import save_ortho, load_ortho
from libortho_nb.streaming import compress_checkpoint
from libortho_nb.okr import WatermarkKey, OKRSettings, apply_okr, remove_okr, okr_generate
from libortho_nb.detector import OKRDetector, scored_tokens
from libortho_nb.testing import tiny_model

NAN, INF = float("nan"), float("inf")

def w(*shape, dtype=torch.float32): return torch.randn(*shape, dtype=dtype)

def llama(): return tiny_model("llama")
def moe(): return tiny_model("mixtral", hidden=32)
def key8(): return WatermarkKey.from_seed(1, 32, 8)
def ids(*shape): return torch.randint(0, 128, shape)

# (name, fn, exception types, fragments of the message: what was expected, and what arrived)
CASES = [
    # argument checks
    ("check_int bool", lambda: check_int(True, "n", 1), TypeError, ["n must be a positive int", "got True"]),
    ("check_int float", lambda: check_int(2.0, "n", 1), TypeError, ["got 2.0"]),
    ("check_real nan", lambda: check_real(NAN, "x", 0, 1), ValueError, ["finite number in [0, 1]", "got nan"]),
    ("check_real str", lambda: check_real("1", "x"), TypeError, ["got '1'"]),
    ("check_choice", lambda: check_choice("c", "mode", ("a", "b")), ValueError, ["one of ('a', 'b')", "got 'c'"]),
    # ops
    ("quantize int weight", lambda: quantize_int4(torch.ones(4, 8, dtype=torch.int32)), TypeError, ["floating", "torch.int32"]),
    ("quantize 1-D", lambda: quantize_int4(w(8)), ValueError, ["2-D", "(8,)"]),
    ("quantize 3-D", lambda: quantize_int4(w(2, 4, 8)), ValueError, ["2-D", "(2, 4, 8)"]),
    ("quantize nan", lambda: quantize_int4(torch.tensor([[1.0, NAN]])), ValueError, ["non-finite", "[0, 1]"]),
    ("quantize inf", lambda: quantize_int4(torch.tensor([[INF, 1.0]])), ValueError, ["non-finite", "[0, 0]"]),
    ("quantize odd group", lambda: quantize_int4(w(4, 8), 3), ValueError, ["positive even int", "got 3"]),
    ("quantize group 0", lambda: quantize_int4(w(4, 8), 0), ValueError, ["positive even int", "got 0"]),
    ("quantize group str", lambda: quantize_int4(w(4, 8), "32"), TypeError, ["positive even int", "got '32'"]),
    ("quantize not tensor", lambda: quantize_int4([[1.0]]), TypeError, ["torch.Tensor", "list"]),
    ("decompose sparsity 1", lambda: decompose(w(4, 8), sparsity=1.0, group_size=8), ValueError, ["[0, 1)", "got 1.0"]),
    ("decompose sparsity nan", lambda: decompose(w(4, 8), sparsity=NAN, group_size=8), ValueError, ["[0, 1)", "nan"]),
    ("decompose sparsity -0.1", lambda: decompose(w(4, 8), sparsity=-0.1, group_size=8), ValueError, ["[0, 1)", "-0.1"]),
    ("decompose mode", lambda: decompose(w(4, 8), mode="dense", group_size=8), ValueError, ["mode must be one of", "'dense'"]),
    ("decompose h shape", lambda: decompose(w(4, 8), h=torch.ones(5), group_size=8), ValueError, ["[8]", "[5]"]),
    ("decompose h negative", lambda: decompose(w(4, 8), h=-torch.ones(8), group_size=8), ValueError, ["non-negative"]),
    ("decompose scores shape", lambda: decompose(w(4, 8), scores=torch.ones(4, 7), group_size=8), ValueError, ["[4, 8]", "[4, 7]"]),
    ("impact h type", lambda: impact_scores(w(4, 8), h=[1.0] * 8), TypeError, ["torch.Tensor or None", "list"]),
    ("check_weight empty type", lambda: check_weight("w"), TypeError, ["torch.Tensor", "str"]),
    # layers
    ("OrthoLinear 0 features", lambda: OrthoLinear(0, 4), ValueError, ["in_features must be a positive int", "got 0"]),
    ("OrthoLinear bool features", lambda: OrthoLinear(True, 4), ValueError, ["positive int", "True"]),
    ("alpha 1.5", lambda: check_alpha(1.5), ValueError, ["[0, 1]", "1.5"]),
    ("alpha nan", lambda: check_alpha(NAN), ValueError, ["[0, 1]", "nan"]),
    ("alpha str", lambda: check_alpha("0"), TypeError, ["real number", "str"]),
    ("from_linear conv", lambda: OrthoLinear.from_linear(nn.Conv1d(2, 2, 1)), TypeError, ["nn.Linear", "Conv1d"]),
    ("layer wrong x features", lambda: OrthoLinear.from_linear(nn.Linear(64, 8), group_size=32)(torch.randn(2, 63)),
     ValueError, ["64 features", "[2, 63]"]),
    ("layer wrong x dtype", lambda: OrthoLinear.from_linear(nn.Linear(64, 8), group_size=32)(torch.randn(2, 64).double()),
     TypeError, ["torch.float64", "torch.float32"]),
    # calibration
    ("calib empty", lambda: calibrate(llama(), [], "activation", progress=False), ValueError, ["calibration data is empty"]),
    ("calib float ids", lambda: list(calibration_batches([torch.randn(2, 4)])[0]), TypeError, ["integer tensor", "float32"]),
    ("calib text without tokenizer", lambda: calibration_batches(["a b"]), ValueError, ["pass tokenizer="]),
    ("read_texts missing", lambda: read_texts("/no/such/file.txt"), FileNotFoundError, ["no such text file", "/no/such/file.txt"]),
    ("read_texts non-str", lambda: read_texts(["a", 3]), TypeError, ["must be strings", "int"]),
    # engine
    ("convert not a module", lambda: convert("model"), TypeError, ["nn.Module", "str"]),
    ("convert sparsity", lambda: convert(llama(), sparsity=2, progress=False), ValueError, ["[0, 1)", "got 2"]),
    ("convert skip str", lambda: convert(llama(), skip="lm_head", progress=False), TypeError, ["tuple or list"]),
    ("compress method", lambda: compress(llama(), method="hessian", progress=False), ValueError, ["method must be one of", "'hessian'"]),
    ("compress eps 0", lambda: compress(llama(), [ids(1, 8)], private=[ids(1, 8)], eps=0, progress=False),
     ValueError, ["eps must be a finite number > 0", "got 0"]),
    ("compress data unused", lambda: compress(llama(), [ids(1, 8)], method="magnitude", progress=False),
     ValueError, ["does not use calib="]),
    ("selection reference type", lambda: selection(llama(), "delta", reference="before.pt"), TypeError, ["nn.Module", "str"]),
    ("set_alpha unconverted", lambda: set_alpha(llama(), 0.0), ValueError, ["no OrthoLinear layers"]),
    # okr
    ("key seed negative", lambda: WatermarkKey.from_seed(-1, 32, 8), ValueError, ["[0, 2**63)", "got -1"]),
    ("key seed float", lambda: WatermarkKey.from_seed(1.5, 32, 8), TypeError, ["[0, 2**63)", "1.5"]),
    ("key float64", lambda: WatermarkKey(torch.randn(8, 32, dtype=torch.float64)), TypeError, ["float32", "torch.float64"]),
    ("key 1 expert", lambda: WatermarkKey(torch.randn(1, 32)), ValueError, ["at least 2 experts", "num_experts=1"]),
    ("key nan", lambda: WatermarkKey(torch.full((8, 32), NAN)), ValueError, ["finite"]),
    ("settings rho 0", lambda: OKRSettings(rho=0.0), ValueError, ["(0, 1]", "0.0"]),
    ("settings rho nan", lambda: OKRSettings(rho=NAN), ValueError, ["(0, 1]", "nan"]),
    ("settings rule", lambda: OKRSettings("top"), ValueError, ["rule must be one of", "'top'"]),
    ("settings dead zone inf", lambda: OKRSettings(dead_zone=INF), ValueError, [">= 0", "inf"]),
    ("apply_okr key shape", lambda: apply_okr(moe(), WatermarkKey.from_seed(1, 64, 8)), ValueError,
     ["hidden_size=64", "hidden size 32"]),
    ("apply_okr not a key", lambda: apply_okr(moe(), torch.randn(8, 32)), TypeError, ["WatermarkKey", "Tensor"]),
    ("apply_okr dense model", lambda: apply_okr(llama(), key8()), ValueError, ["no MoE router", "LlamaForCausalLM"]),
    ("remove_okr unkeyed", lambda: remove_okr(moe()), ValueError, ["not applied"]),
    ("okr_generate 0 tokens", lambda: okr_generate(moe(), key8(), ids(1, 4), 0), ValueError, ["positive int", "got 0"]),
    ("okr_generate float prompt", lambda: okr_generate(moe(), key8(), torch.randn(1, 4), 4), TypeError, ["integer", "float32"]),
    ("okr_generate 1-D prompt", lambda: okr_generate(moe(), key8(), ids(4), 4), ValueError, ["2-D", "[4]"]),
    # detector
    ("detector key shape", lambda: OKRDetector(moe(), WatermarkKey.from_seed(1, 32, 4)), ValueError, ["num_experts=4"]),
    ("detector n_null 0", lambda: OKRDetector(moe(), key8(), n_null=0), ValueError, ["positive int", "got 0"]),
    ("scored ngram 0", lambda: scored_tokens(ids(1, 8), ngram=0), ValueError, ["positive int", "got 0"]),
    ("scored left padding", lambda: scored_tokens(ids(2, 4), torch.tensor([[1, 1, 1, 1], [0, 1, 1, 1]])), ValueError, ["right-padded"]),
    ("scored mask shape", lambda: scored_tokens(ids(2, 4), torch.ones(2, 5)), ValueError, ["[2, 4]", "[2, 5]"]),
    ("detect p threshold", lambda: OKRDetector(moe(), key8(), n_null=3)(ids(1, 8), p_threshold=1.0), ValueError,
     ["p_threshold", "(0, 1)", "1.0"]),
]

@pytest.mark.parametrize("name,fn,exc,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly(name, fn, exc, fragments):
    with pytest.raises(exc) as info: fn()
    msg = str(info.value)
    for f in fragments: assert f in msg, f"{name}: {f!r} not in {msg!r}"
    assert len(msg) < 400, f"{name}: the message is {len(msg)} characters: {msg[:200]}..."

def tree(root):
    "Every file under `root` with its sha256, to compare before and after a failed call."
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in Path(root).rglob("*") if p.is_file()}

def converted(tmp_path):
    m = compress(llama(), [ids(2, 16)], sparsity=0.02, group_size=32, progress=False)
    save_ortho(m, tmp_path / "ortho")
    return m

# Calls that write files: each fails, and the folder is as it was.
def fails_on_disk(tmp_path):
    m = converted(tmp_path)
    (tmp_path / "dense").mkdir()
    llama().save_pretrained(tmp_path / "dense")
    key8().save(tmp_path / "k.key")
    return [
        ("save_ortho dense model", lambda: save_ortho(llama(), tmp_path / "out1"), ValueError),
        ("save_ortho not a PreTrainedModel", lambda: save_ortho(nn.Linear(2, 2), tmp_path / "out2"), TypeError),
        ("load_ortho missing", lambda: load_ortho(tmp_path / "nowhere"), FileNotFoundError),
        ("stream into itself", lambda: compress_checkpoint(tmp_path / "dense", tmp_path / "dense", [ids(1, 8)], progress=False), ValueError),
        ("stream a converted folder", lambda: compress_checkpoint(tmp_path / "ortho", tmp_path / "out3", [ids(1, 8)], progress=False), ValueError),
        ("stream non-empty dst", lambda: compress_checkpoint(tmp_path / "dense", tmp_path / "ortho", [ids(1, 8)], progress=False), ValueError),
        ("stream fisher", lambda: compress_checkpoint(tmp_path / "dense", tmp_path / "out4", [ids(1, 8)], method="fisher", progress=False), ValueError),
        ("key load of a model file", lambda: WatermarkKey.load(tmp_path / "ortho" / "model.safetensors"), ValueError),
    ]

def test_failed_calls_change_nothing_on_disk(tmp_path):
    cases = fails_on_disk(tmp_path)
    before = tree(tmp_path)
    for name, fn, exc in cases:
        with pytest.raises(exc): fn()
        assert tree(tmp_path) == before, f"{name} changed files under {tmp_path}"

def test_case_count():
    "The sweep's size, for the record (and so that the table cannot silently shrink)."
    assert len(CASES) >= 60
