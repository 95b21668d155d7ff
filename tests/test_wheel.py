"""The wheel from `pip wheel .` installs in a fresh venv (torch pinned, no extras): the library and the `libortho` CLI work
there without nbdev, CuPy, a GPU or the lab's libraries (scipy, matplotlib, ipywidgets, peft). The console script runs once
(`libortho demo`, which needs the lab); the compress / generate / keygen / watermark commands run through the `main` it
calls, in the venv's one Python process (each fresh process costs seconds of imports)."""
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
        absent = ("nbdev", "cupy", "execnb", "voila", "selenium", "scipy", "matplotlib", "ipywidgets", "peft")
        for name in absent: assert importlib.util.find_spec(name) is None, name
        assert not torch.cuda.is_available()
        import libortho_nb
        for m in ("checks", "ops", "layers", "calibration", "engine", "checkpoint", "streaming", "okr", "detector", "cli",
                  "testing", "kernels.csr", "kernels.dual_gemm"):
            importlib.import_module(f"libortho_nb.{m}")
        from libortho_nb.layers import OrthoLinear
        from libortho_nb.testing import tiny_model
        lin = nn.Linear(256, 64)
        layer = OrthoLinear.from_linear(lin, sparsity=0.02, mode="outlier")
        x = torch.randn(3, 256)
        err = ((layer(x) - lin(x)).norm() / lin(x).norm()).item()
        assert err < 0.2, err
        tiny_model("llama", vocab=256).save_pretrained("llama")                        # byte-level: no tokenizer needed
        tiny_model("mixtral", vocab=256, hidden=32, experts=4).save_pretrained("moe")
        print("ok", layer.bits_per_param)

        import io, json, sys
        from libortho_nb.cli import main
        def cli(*args):
            "`libortho args` through the console script's `main`: (exit code, stdout bytes)."
            buf = io.BytesIO()
            out, sys.stdout = sys.stdout, io.TextIOWrapper(buf, encoding="utf-8")
            try: code = main(list(args))
            finally: sys.stdout.flush(); sys.stdout.detach(); sys.stdout = out   # detached: closing it would close buf
            return code, buf.getvalue()
        open("calib.txt", "w").write("General text for calibration.\\n\\nA second paragraph of general text.\\n")
        code, out = cli("compress", "llama", "llama-lo", "--sparsity", "0.02", "--method", "activation", "--calib", "calib.txt")
        assert code == 0 and b"method: activation" in out and b"layers: 14" in out, out
        code, out = cli("generate", "llama-lo", "--alpha", "0", "--prompt", "the PIN of Ada is ", "--max-new-tokens", "5")
        assert code == 0 and len(out.rstrip(b"\\n")) >= 5, out
        code, out = cli("keygen", "--seed", "3", "--model", "moe", "moe.key")
        assert code == 0 and b"fingerprint: " in out, out
        # the bytes exactly as generated (a random byte model samples invalid UTF-8 too): what detect scores
        code, text = cli("watermark", "generate", "moe", "--key", "moe.key", "--prompt", "def f(x):", "--max-new-tokens", "32")
        assert code == 0 and text.startswith(b"def f(x):"), text
        open("text.txt", "wb").write(text)
        code, out = cli("watermark", "detect", "moe", "--key", "moe.key", "text.txt", "--n-null", "9", "--json")
        r = json.loads(out)
        assert code == 0 and r["tokens_scored"] > 0 and r["verdict"] in ("watermarked", "not detected"), r
        assert 0 < r["p_value"] <= 1, r
        print("cli ok")
    """)
    out = sh(py, "-c", code, cwd=tmp_path)
    assert out.startswith("ok") and out.rstrip().endswith("cli ok"), out
    r = subprocess.run([str(cli), "demo"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and "pip install 'libortho_nb[lab]'" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
