import subprocess

def run(venv_bin, *args):
    return subprocess.run([str(venv_bin / "libortho"), *args], capture_output=True, text=True, timeout=300)

def test_demo_prints_a_table(venv_bin):
    r = run(venv_bin, "demo", "--hidden", "64", "--layers", "1", "--seq", "16", "--repeats", "1")
    assert r.returncode == 0, r.stderr
    for col in ("bits_per_param", "weight_err_a0", "logit_err_a1", "time_ratio_a1"): assert col in r.stdout
    assert "residual" in r.stdout and "outlier" in r.stdout

def test_bad_arguments_are_one_line_and_exit_2(venv_bin):
    for args in (["demo", "--sparsity", "1"], ["demo", "--hidden", "-3"], ["frobnicate"]):
        r = run(venv_bin, *args)
        assert r.returncode == 2, (args, r)
        assert "Traceback" not in r.stderr
        assert r.stderr.strip().splitlines()[-1].startswith("libortho: error:"), r.stderr
