"The `libortho` console script as a user runs it: the demo on the committed models, and one-line errors with exit code 2."
import subprocess

def run(venv_bin, *args, cwd=None):
    return subprocess.run([str(venv_bin / "libortho"), *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd)

def test_demo_on_the_committed_models(venv_bin, root, tmp_path):
    r = run(venv_bin, "demo", "--models", root / "models", "--out", tmp_path / "out", "--canaries", "4", "--n-candidates", "200",
            "--texts", "2", "--new-tokens", "128")
    assert r.returncode == 0, r.stderr[-3000:]
    for s in ("The kill switch", "extraction", "exposure", "perplexity", "A watermark", "z_score", "p_value", "with key", "without key"):
        assert s in r.stdout, s
    kill = r.stdout.split("== A watermark")[0].splitlines()
    alphas = [l.split()[0] for l in kill if l.strip() and l.split()[0].replace(".", "").isdigit()]
    assert alphas == ["0", "0.25", "0.5", "0.75", "1"], kill
    for png in ("killswitch.png", "watermark.png"): assert (tmp_path / "out" / png).stat().st_size > 1000

def test_bad_input_is_one_line_and_exit_2(venv_bin, root, tmp_path):
    cases = [(["demo", "--models", tmp_path], "no such folder"),
             (["compress", root / "models" / "moe-small", tmp_path / "o", "--sparsity", "1"], "must be in [0, 1)"),
             (["keygen", "--seed", "1", "--model", root / "README.md", tmp_path / "k"], "is a file, not a folder"),
             (["frobnicate"], "invalid choice")]
    for args, says in cases:
        r = run(venv_bin, *args)
        assert r.returncode == 2, (args, r)
        assert "Traceback" not in r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("libortho: error:") and says in lines[0], (args, r.stderr)
