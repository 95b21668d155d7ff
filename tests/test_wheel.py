"The wheel from `pip wheel .` installs in a fresh venv (torch pinned) and the package and the `libortho` CLI work there without nbdev, CuPy or a GPU."
import json, subprocess, sys, textwrap

def sh(*args, **kw):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=1200, **kw)
    assert r.returncode == 0, f"{args}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout

def test_wheel_installs_and_runs_in_a_fresh_venv(root, tmp_path):
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", root)
    wheel, = (tmp_path / "dist").glob("libortho_nb-*.whl")
    venv = tmp_path / "venv"
    sh(sys.executable, "-m", "venv", venv)
    py, cli = venv / "bin" / "python", venv / "bin" / "libortho"
    cons = root / "constraints.txt"
    sh(py, "-m", "pip", "install", "-q", "-c", cons, "torch==2.13.0")
    sh(py, "-m", "pip", "install", "-q", "-c", cons, wheel)
    code = textwrap.dedent("""
        import importlib.util, torch
        from torch import nn
        for absent in ("nbdev", "cupy", "execnb", "voila", "selenium"): assert importlib.util.find_spec(absent) is None, absent
        assert not torch.cuda.is_available()
        from libortho_nb.layers import OrthoLinear
        from libortho_nb.training import byte_llama, byte_mixtral
        lin = nn.Linear(256, 64)
        layer = OrthoLinear.from_linear(lin, sparsity=0.02, mode="outlier")
        x = torch.randn(3, 256)
        err = ((layer(x) - lin(x)).norm() / lin(x).norm()).item()
        assert err < 0.2, err
        byte_llama(64, 2).save_pretrained("llama"); byte_mixtral(32, 2, experts=4).save_pretrained("moe")
        print("ok", layer.bits_per_param)
    """)
    assert sh(py, "-c", code, cwd=tmp_path).startswith("ok")
    (tmp_path / "calib.txt").write_text("General text for calibration.\n\nA second paragraph of general text.\n")
    out = sh(cli, "compress", "llama", "llama-lo", "--sparsity", "0.02", "--method", "activation", "--calib", "calib.txt", cwd=tmp_path)
    assert "method: activation" in out and "layers: 14" in out
    out = sh(cli, "generate", "llama-lo", "--alpha", "0", "--prompt", "the PIN of Ada is ", "--max-new-tokens", "5", cwd=tmp_path)
    assert len(out.rstrip("\n").encode()) >= 5
    assert "fingerprint: " in sh(cli, "keygen", "--seed", "3", "--model", "moe", "moe.key", cwd=tmp_path)
    text = sh(cli, "watermark", "generate", "moe", "--key", "moe.key", "--prompt", "def f(x):", "--max-new-tokens", "32", cwd=tmp_path)
    (tmp_path / "text.txt").write_text(text)
    r = json.loads(sh(cli, "watermark", "detect", "moe", "--key", "moe.key", "text.txt", "--n-null", "9", "--json", cwd=tmp_path))
    assert r["tokens_scored"] > 0 and r["verdict"] in ("watermarked", "not detected") and 0 < r["p_value"] <= 1
