"The wheel from `pip wheel .` installs in a fresh venv (torch pinned) and works there without nbdev, CuPy or a GPU."
import subprocess, sys, textwrap

def sh(*args, **kw):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=1200, **kw)
    assert r.returncode == 0, f"{args}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout

def test_wheel_installs_and_runs_in_a_fresh_venv(root, tmp_path):
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", root)
    wheel, = (tmp_path / "dist").glob("libortho_nb-*.whl")
    venv = tmp_path / "venv"
    sh(sys.executable, "-m", "venv", venv)
    py = venv / "bin" / "python"
    cons = root / "constraints.txt"
    sh(py, "-m", "pip", "install", "-q", "-c", cons, "torch==2.13.0")
    sh(py, "-m", "pip", "install", "-q", "-c", cons, wheel)
    code = textwrap.dedent("""
        import importlib.util, torch
        from torch import nn
        for absent in ("nbdev", "cupy", "execnb"): assert importlib.util.find_spec(absent) is None, absent
        assert not torch.cuda.is_available()
        from libortho_nb.ops import decompose, quantize_int4
        from libortho_nb.layers import OrthoLinear
        lin = nn.Linear(256, 64)
        layer = OrthoLinear.from_linear(lin, sparsity=0.02, mode="outlier")
        x = torch.randn(3, 256)
        err = ((layer(x) - lin(x)).norm() / lin(x).norm()).item()
        assert err < 0.2, err
        print("ok", layer.bits_per_param)
    """)
    assert sh(py, "-c", code, cwd=tmp_path).startswith("ok")
    out = sh(venv / "bin" / "libortho", "demo", "--hidden", "64", "--layers", "1", "--seq", "8", "--repeats", "1", cwd=tmp_path)
    assert "bits_per_param" in out
