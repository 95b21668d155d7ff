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
from libortho_nb.checkpoint import save_ortho, load_ortho, LibOrthoConfig
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
    ("compress ids outside vocab", lambda: compress(llama(), [ids(1, 8), torch.tensor([[1, 500]])], progress=False),
     ValueError, ["calibration batch 1 holds token id 500", "vocabulary [0, 128)"]),
    ("compress negative id", lambda: compress(llama(), [torch.tensor([[-3, 1]])], method="fisher", progress=False),
     ValueError, ["token id -3"]),
    ("delta reference is the model", lambda: (lambda m: compress(m, method="delta", reference=m, progress=False))(llama()),
     ValueError, ["reference is the model itself"]),
    ("delta reference equal weights", lambda: compress(llama(), method="delta", reference=llama(), progress=False),
     ValueError, ["delta scores would all be zero"]),
    # checkpoint configs
    ("config digest not hex", lambda: LibOrthoConfig(layers={"a": 1}, checksums={"a": "xyz"}), ValueError, ["sha256 hex", "'a'"]),
    ("config tensor digest int", lambda: LibOrthoConfig(tensor_checksums={"n.w": 3}), ValueError, ["64 characters", "'n.w'"]),
    ("config alpha 2", lambda: LibOrthoConfig(layers={"a": 1}, alphas={"a": 2.0}), ValueError, ["[0, 1]", "2.0"]),
    ("config alpha unknown layer", lambda: LibOrthoConfig(alphas={"b": 0.5}), ValueError, ["not in layers", "'b'"]),
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
        ("load_ortho of a dense folder", lambda: load_ortho(tmp_path / "dense"), ValueError),
        ("save_ortho over a file", lambda: save_ortho(m, tmp_path / "k.key"), ValueError),
        ("key save into a folder", lambda: key8().save(tmp_path / "ortho"), ValueError),
        ("stream into a missing parent's file", lambda: compress_checkpoint(tmp_path / "dense", tmp_path / "k.key", None,
                                                                            method="magnitude", progress=False), ValueError),
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

# ---------------------------------------------------------------------------------------------------------------------
# The command line: every bad input is one line on stderr, `libortho: error: ...`, exit code 2, and nothing on disk changes.

from libortho_nb.cli import main
from libortho_nb.checkpoint import LIBORTHO_CONFIG
from hypothesis import given, settings, strategies as st, HealthCheck

def cli(args, capsys):
    "Run `libortho args` in this process: (exit code, stdout, stderr)."
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err

@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    "Model folders, keys and texts the CLI cases point at (made once; the cases must not change them)."
    t = tmp_path_factory.mktemp("cli")
    tiny_model("llama", vocab=256).save_pretrained(t / "dense")        # byte-level: the CLI reads text as UTF-8 bytes
    moe().save_pretrained(t / "moe")
    m = compress(tiny_model("llama", vocab=256), [ids(2, 16)], sparsity=0.02, group_size=32, progress=False)
    save_ortho(m, t / "ortho")
    key8().save(t / "moe.key")
    WatermarkKey.from_seed(1, 64, 8).save(t / "other.key")              # a key for another model's shape
    (t / "bad_json").mkdir(); (t / "bad_json" / "config.json").write_text("{not json")
    (t / "no_weights").mkdir(); (t / "no_weights" / "config.json").write_text((t / "dense" / "config.json").read_text())
    (t / "not_hf").mkdir(); (t / "not_hf" / "config.json").write_text('{"a": 1}'); (t / "not_hf" / "w.safetensors").write_bytes(b"")
    (t / "trunc").mkdir()
    for f in (t / "dense").iterdir(): (t / "trunc" / f.name).write_bytes(f.read_bytes())
    w = (t / "trunc" / "model.safetensors").read_bytes(); (t / "trunc" / "model.safetensors").write_bytes(w[: len(w) // 2])
    (t / "flipped").mkdir()
    for f in (t / "ortho").iterdir(): (t / "flipped" / f.name).write_bytes(f.read_bytes())
    b = bytearray((t / "flipped" / "model.safetensors").read_bytes()); b[-5] ^= 1; (t / "flipped" / "model.safetensors").write_bytes(bytes(b))
    (t / "text.txt").write_text("Some text to score, long enough to have a few tokens in it.\n")
    (t / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (t / "empty.txt").write_bytes(b"")
    (t / "out").mkdir(); (t / "out" / "x").write_text("occupied")
    return t

# (name, args with {t} for the folder, fragment of the one-line message)
CLI_CASES = [
    ("keygen into a missing folder", ["keygen", "--seed", "1", "--model", "{t}/moe", "{t}/no/such/dir/k.key"],
     "does not exist: create the folder for KEYFILE"),
    ("keygen invalid config.json", ["keygen", "--seed", "1", "--model", "{t}/bad_json", "{t}/k1.key"], "is not valid JSON"),
    ("keygen no weights", ["keygen", "--seed", "1", "--model", "{t}/no_weights", "{t}/k2.key"], "holds no weights"),
    ("keygen not a transformers config", ["keygen", "--seed", "1", "--model", "{t}/not_hf", "{t}/k3.key"],
     "not a transformers config"),
    ("keygen truncated weights", ["keygen", "--seed", "1", "--model", "{t}/trunc", "{t}/k4.key"], "cannot load the model"),
    ("keygen dense model", ["keygen", "--seed", "1", "--model", "{t}/dense", "{t}/k5.key"], "has no mixture-of-experts router"),
    ("keygen over a key", ["keygen", "--seed", "1", "--model", "{t}/moe", "{t}/moe.key"], "refusing to overwrite"),
    ("keygen negative seed", ["keygen", "--seed", "-1", "--model", "{t}/moe", "{t}/k6.key"], "--seed must be in [0, 2**63)"),
    ("keygen seed not a number", ["keygen", "--seed", "x", "--model", "{t}/moe", "{t}/k7.key"], "--seed"),
    ("detect with a model file as key", ["watermark", "detect", "{t}/moe", "--key", "{t}/ortho/model.safetensors", "{t}/text.txt"],
     "is not a WatermarkKey file"),
    ("detect with a text file as key", ["watermark", "detect", "{t}/moe", "--key", "{t}/text.txt", "{t}/text.txt"],
     "safetensors cannot read it"),
    ("detect with a missing key", ["watermark", "detect", "{t}/moe", "--key", "{t}/none.key", "{t}/text.txt"], "no such key file"),
    ("detect with another model's key", ["watermark", "detect", "{t}/moe", "--key", "{t}/other.key", "{t}/text.txt"],
     "not this model's key"),
    ("generate with another model's key", ["watermark", "generate", "{t}/moe", "--key", "{t}/other.key", "--prompt", "a"],
     "not this model's key"),
    # detect reads bytes: invalid UTF-8 is a byte-level model's text as sampled (tests/test_cli.py scores it); an empty file is not
    ("detect an empty text", ["watermark", "detect", "{t}/moe", "--key", "{t}/moe.key", "{t}/empty.txt"], "is empty"),
    ("detect missing text", ["watermark", "detect", "{t}/moe", "--key", "{t}/moe.key", "{t}/none.txt"], "none.txt"),
    ("generate on a dense model", ["generate", "{t}/dense", "--prompt", "a"], "is not a LibOrtho model"),
    ("generate alpha 2", ["generate", "{t}/ortho", "--alpha", "2", "--prompt", "a"], "--alpha"),
    ("generate alpha nan", ["generate", "{t}/ortho", "--alpha", "nan", "--prompt", "a"], "--alpha"),
    ("generate 0 tokens", ["generate", "{t}/ortho", "--prompt", "a", "--max-new-tokens", "0"], "--max-new-tokens"),
    ("generate a damaged checkpoint", ["generate", "{t}/flipped", "--prompt", "a"], "checksum mismatch"),
    ("compress a compressed model", ["compress", "{t}/ortho", "{t}/o1"], "is already compressed"),
    ("compress into a non-empty folder", ["compress", "{t}/dense", "{t}/out"], "is not an empty folder"),
    ("compress delta against itself", ["compress", "{t}/dense", "{t}/o2", "--method", "delta", "--reference", "{t}/dense"],
     "delta scores would all be zero"),
    ("compress missing calib", ["compress", "{t}/dense", "{t}/o3", "--calib", "{t}/none.txt"], "--calib"),
    ("compress sparsity 1", ["compress", "{t}/dense", "{t}/o4", "--sparsity", "1"], "must be in [0, 1)"),
    ("compress unknown method", ["compress", "{t}/dense", "{t}/o5", "--method", "hessian"], "--method"),
    ("compress missing model", ["compress", "{t}/nowhere", "{t}/o6"], "no such folder"),
    ("compress odd group size", ["compress", "{t}/dense", "{t}/o7", "--group-size", "3"], "--group-size"),
    ("compress group size 0", ["compress", "{t}/dense", "{t}/o8", "--group-size", "0"], "must be a positive integer"),
    ("compress gptq without calib", ["compress", "{t}/dense", "{t}/o9", "--gptq"], "--gptq needs --calib"),
    ("compress gptq with a method", ["compress", "{t}/dense", "{t}/o10", "--gptq", "--calib", "{t}/text.txt", "--method",
                                     "fisher"], "does not use --method"),
    ("compress gptq outlier", ["compress", "{t}/dense", "{t}/o11", "--gptq", "--calib", "{t}/text.txt", "--mode", "outlier"],
     "residual-mode layers only"),
    ("compress gptq revert", ["compress", "{t}/dense", "{t}/o12", "--gptq", "--calib", "{t}/text.txt", "--mode", "revert"],
     "drop --mode revert"),
    ("demo reference not a model", ["demo", "--models", "{m}", "--reference", "{t}/out"], "has no config.json"),
    ("demo reference unused", ["demo", "--models", "{m}", "--method", "contrastive", "--mode", "outlier", "--reference",
                               "{m}/llama-base"], "--reference is used by --mode revert and the delta methods only"),
    ("unknown command", ["frobnicate"], "invalid choice"),
]
MODELS = Path(__file__).resolve().parents[1] / "models"                 # the committed models `libortho demo` runs on

@pytest.mark.parametrize("name,args,fragment", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_is_one_line_exit_2(name, args, fragment, folders, capsys):
    before = tree(folders)
    code, out, err = cli([a.format(t=folders, m=MODELS) for a in args], capsys)
    lines = err.strip().splitlines()
    assert code == 2, (name, code, err)
    assert len(lines) == 1 and lines[0].startswith("libortho: error: "), (name, err)
    assert fragment in lines[0], (name, fragment, lines[0])
    assert len(lines[0]) < 400, (name, len(lines[0]), lines[0][:200])
    assert tree(folders) == before, f"{name} changed files"

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=12))
def test_cli_any_sparsity_string_is_one_line(folders, capsys, s):
    "Whatever `--sparsity` is given, the CLI answers in one line with exit code 2 (into an occupied OUT_DIR: it never runs)."
    if s.startswith("-"): s = " " + s                                    # else argparse reads it as a flag
    code, out, err = cli(["compress", folders / "dense", folders / "out", "--sparsity", s], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("libortho: error: "), (s, err)

@settings(max_examples=200, deadline=None)
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10), st.text(max_size=4), st.none(),
                 st.booleans(), st.lists(st.floats(), max_size=2)))
def test_alpha_accepts_exactly_the_unit_interval(x):
    "`check_alpha` returns a real in [0, 1] unchanged, and refuses everything else with the value in the message."
    real = isinstance(x, (int, float)) and not isinstance(x, bool)
    if real and not math.isnan(x) and 0 <= x <= 1:
        assert check_alpha(x) == x
        return
    with pytest.raises((TypeError, ValueError)) as e: check_alpha(x)
    assert "alpha" in str(e.value) and len(str(e.value)) < 400

@settings(max_examples=60, deadline=None)
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5)), st.sampled_from(["boundary", "max", "x"]),
       st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 2)))
def test_okr_settings_valid_or_refused(rho, rule, dead_zone):
    "`OKRSettings` either holds exactly what it was given or refuses it with a message naming the field."
    try: s = OKRSettings(rule, rho=rho, dead_zone=dead_zone)
    except (TypeError, ValueError) as e:
        assert any(f in str(e) for f in ("rho", "rule", "dead_zone")), str(e)
        return
    assert (s.rule, s.rho, s.dead_zone) == (rule, rho, dead_zone)
    assert 0 < rho <= 1 and dead_zone >= 0 and rule in ("boundary", "max")

def test_totals():
    "The sweep's size, printed for the record (pytest -s): API cases, CLI cases, property tests."
    print(f"bad-input cases: {len(CASES)} API + {len(CLI_CASES)} CLI + 3 property tests")
    assert len(CASES) + len(CLI_CASES) >= 90


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_gradient_methods_work_inside_no_grad(mode):
    "compress(method='fisher') where users often call it, inside no_grad() or inference_mode(): same layers as outside."
    calib = [ids(2, 12)]
    ref = compress(llama(), calib, sparsity=0.05, method="fisher", group_size=32, progress=False)
    ctx = torch.no_grad() if mode == "no_grad" else torch.inference_mode()
    m = llama()                                                          # loaded as usual, compressed inside the context
    with ctx: compress(m, calib, sparsity=0.05, method="fisher", group_size=32, progress=False)
    for (n, a), b in zip(ref.named_buffers(), m.buffers()): assert torch.equal(a, b), n

def test_resaved_folder_loads_everywhere(folders, tmp_path, capsys):
    "A LibOrtho folder re-saved by plain save_pretrained (what push_to_hub uploads) loads in load_ortho and the CLI."
    from transformers import AutoModelForCausalLM
    m = AutoModelForCausalLM.from_pretrained(folders / "ortho")
    m.save_pretrained(tmp_path / "resaved")
    assert not (tmp_path / "resaved" / LIBORTHO_CONFIG).exists()
    m2 = load_ortho(tmp_path / "resaved")
    for (n, a), b in zip(m.state_dict().items(), m2.state_dict().values()): assert torch.equal(a, b), n
    code, out, err = cli(["generate", tmp_path / "resaved", "--prompt", "ab", "--max-new-tokens", "3"], capsys)
    assert code == 0 and len(out.rstrip("\n").encode("utf-8", "surrogateescape")) >= 1, (code, err)
