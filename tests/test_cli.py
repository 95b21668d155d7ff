"The `libortho` console script as a user runs it: the demo on the committed models, and one-line errors with exit code 2."
import json, os, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
import torch

def run(venv_bin, *args, cwd=None):
    return subprocess.run([str(venv_bin / "libortho"), *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd)

# Each command below runs at least once as the console script in a fresh process, as a user runs it; the repeats of a
# command (other keys, other texts, the same error path) call the same `main` in this process, which costs no imports
# (about 14 s a process on CI). `main` is all the console script runs: `sys.exit(main())`.
def here(capsysbinary, *args, cwd=None):
    "`libortho args` in this process: (exit code, stdout bytes, stderr text); `cwd` as the fresh process would have it."
    from libortho_nb.cli import main
    old = os.getcwd()
    if cwd is not None: os.chdir(cwd)
    try: code = main([str(a) for a in args])
    finally: os.chdir(old)
    out, err = capsysbinary.readouterr()
    return code, out, err.decode()

def test_demo_on_the_committed_models(venv_bin, root, tmp_path):
    r = run(venv_bin, "demo", "--models", root / "models", "--out", tmp_path / "out", "--canaries", "4", "--n-candidates", "200",
            "--texts", "2", "--new-tokens", "128")
    assert r.returncode == 0, r.stderr[-3000:]
    for s in ("The kill switch", "extraction", "exposure", "perplexity", "A watermark", "z_score", "p_value", "with key", "without key"):
        assert s in r.stdout, s
    kill = r.stdout.split("== A watermark")[0].splitlines()
    rows = [l.split() for l in kill if l.strip() and l.split()[0].replace(".", "").isdigit()]
    assert [r[0] for r in rows] == ["0", "0.25", "0.5", "0.75", "1"], kill
    assert "method=delta, mode=revert, sparsity=0.5 against" in kill[0], kill[0]
    extraction = {r[0]: float(r[1]) for r in rows}
    assert extraction["0"] == 0 and extraction["1"] > 0, kill            # the switch: secrets out at 1, none at 0
    cost = [l for l in kill if l.startswith("cost: held-out perplexity at alpha 0 is")]
    assert len(cost) == 1 and "bits per parameter" in cost[0], kill
    for png in ("killswitch.png", "watermark.png"): assert (tmp_path / "out" / png).stat().st_size > 1000

def test_bad_input_is_one_line_and_exit_2(venv_bin, root, tmp_path, capsysbinary):
    "The console script's exit code and stderr for a bad input; three more cases through `main` in this process."
    r = run(venv_bin, "compress", root / "models" / "moe-small", tmp_path / "o", "--sparsity", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("libortho: error:") and "must be in [0, 1)" in lines[0], r.stderr
    assert not (tmp_path / "o").exists()
    cases = [(["demo", "--models", tmp_path], "no such folder"),
             (["keygen", "--seed", "1", "--model", root / "README.md", tmp_path / "k"], "is a file, not a folder"),
             (["frobnicate"], "invalid choice")]
    for args, says in cases:
        code, out, err = here(capsysbinary, *args)
        assert code == 2 and "Traceback" not in err, (args, code, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("libortho: error:") and says in lines[0], (args, err)

def test_compress_grid_flags_are_stored(venv_bin, tmp_path, capsysbinary):
    """`libortho compress --group-size 32 --asymmetric --clip-search --gptq` in a fresh process (the defaults through `main`
    here): summary, config and layers agree."""
    from libortho_nb.testing import tiny_model
    from libortho_nb.checkpoint import load_ortho
    from libortho_nb.engine import ortho_layers
    tiny_model("llama", vocab=256).save_pretrained(tmp_path / "dense")
    (tmp_path / "calib.txt").write_text("Some calibration text, a few dozen bytes long.\n\nAnd a second paragraph.\n")
    bits = {}
    for flags in ([], ["--group-size", "32", "--asymmetric", "--clip-search", "--gptq"]):
        out = tmp_path / f"o{len(bits)}"
        args = ("compress", tmp_path / "dense", out, "--calib", tmp_path / "calib.txt", *flags)
        if flags:
            r = run(venv_bin, *args)
            code, stdout, stderr = r.returncode, r.stdout, r.stderr
        else:
            code, stdout, stderr = here(capsysbinary, *args)
            stdout = stdout.decode()
        assert code == 0, stderr[-3000:]
        s = dict(l.split(": ", 1) for l in stdout.splitlines())
        bits[len(bits)] = float(s["bits_per_param"])
        cfg = load_ortho(out).config.quantization_config
        want = (32, True, True, "gptq") if flags else (128, False, False, "rtn")
        assert (cfg.group_size, cfg.asymmetric, cfg.clip_search, s["base"]) == want, (s, cfg)
        layers = ortho_layers(load_ortho(out)).values()
        assert {(l.group_size, l.asymmetric) for l in layers} == {want[:2]}
        stored = 8 * sum(l.base.nbytes + l.ortho.nbytes for l in layers) / sum(l.in_features * l.out_features for l in layers)
        assert abs(bits[len(bits) - 1] - stored) < 1e-9, (bits, stored)  # what is printed is what the folder holds
    assert bits[0] != bits[1], bits

def test_compress_stream_prints_what_moe_converts(venv_bin, root, tmp_path):
    "`libortho compress --stream` on the committed Mixtral: the printed counts are the folder's, every expert converted."
    from libortho_nb.checkpoint import load_ortho
    from libortho_nb.experts import param_summary
    (tmp_path / "calib.txt").write_text("def main():\n    return parse(open(path).read())\n\n" * 8)
    out = tmp_path / "s"
    r = run(venv_bin, "compress", root / "models" / "moe-small", out, "--stream", "--calib", tmp_path / "calib.txt",
            "--group-size", "32", "--seq-len", "64", "--max-windows", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    s = dict(l.split(": ", 1) for l in r.stdout.splitlines())
    model = load_ortho(out)
    want = param_summary(model)
    assert (int(s["converted_params"]), int(s["dense_params"])) == (want["converted_params"], want["dense_params"]), (s, want)
    assert s["stream"] == "True" and "experts" not in want["dense"] and want["converted"]["experts"] > 0, (s, want)
    assert eval(s["converted_by_kind"]) == want["converted"] and eval(s["dense_by_kind"]) == want["dense"], s
    n = int(s["magnitude_experts"])                                  # 2 windows of 64 bytes: some experts see few
    assert n == len(model.config.quantization_config.magnitude_layers) and (n > 0) == ("too few routed" in r.stderr)

PROMPT = "def parse(text):"

def shell(venv_bin, line, cwd, env=None):
    "One line of the README, run by the shell (so `>` writes the file exactly as a user's shell does)."
    return subprocess.run(f"{venv_bin / 'libortho'} {line}", shell=True, capture_output=True, text=True, timeout=600, cwd=cwd,
                          env=env)

def detect(venv_bin, root, key, text, cwd, *flags, env=None):
    r = shell(venv_bin, f"watermark detect {root / 'models' / 'moe-small'} --key {key} {text} --json {' '.join(flags)}", cwd, env)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)

# two commands at a time, one torch thread each (two with two threads each would oversubscribe a 2-core machine)
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

def two_at_a_time(f, jobs):
    "`[f(job) for job in jobs]`, two running at once; an assertion in any of them fails the test."
    with ThreadPoolExecutor(2) as pool: return list(pool.map(f, jobs))

def test_readme_watermark_flow_detects_what_it_generates(venv_bin, root, tmp_path, capsysbinary):
    """The README's keygen / generate / detect lines at the CLI's defaults, for three keys, each in a fresh process as the
    shell runs it; then, through `main` in this process, each text with its prompt given and texts made without the key."""
    model = root / "models" / "moe-small"
    def make(seed):
        r = shell(venv_bin, f"keygen --seed {seed} --model {model} k{seed}.key", tmp_path, ONE_THREAD)
        assert r.returncode == 0, r.stderr
        r = shell(venv_bin, f"watermark generate {model} --key k{seed}.key --prompt '{PROMPT}' > t{seed}.txt", tmp_path,
                  ONE_THREAD)
        assert r.returncode == 0, r.stderr
        assert (tmp_path / f"t{seed}.txt").read_bytes().startswith(PROMPT.encode())
    two_at_a_time(make, (1, 2, 3))
    def verdict(job):
        key, text, flags = job
        return detect(venv_bin, root, key, text, tmp_path, *flags, env=ONE_THREAD)["verdict"]
    own = [(f"k{seed}.key", f"t{seed}.txt", ()) for seed in (1, 2, 3)]
    verdicts = two_at_a_time(verdict, own)
    assert verdicts == ["watermarked"] * len(own), list(zip(own, verdicts))
    def judged_here(key, text, *flags):
        code, out, err = here(capsysbinary, "watermark", "detect", model, "--key", key, text, "--json", *flags, cwd=tmp_path)
        assert code == 0, err[-3000:]
        return json.loads(out)["verdict"]
    with_prompt = [judged_here(f"k{seed}.key", f"t{seed}.txt", "--prompt", PROMPT) for seed in (1, 2, 3)]
    assert with_prompt == ["watermarked"] * 3, with_prompt
    # made without the key: another key's text, the clean model's text, and human text
    from transformers import AutoModelForCausalLM
    from libortho_nb.okr import okr_generate
    m = AutoModelForCausalLM.from_pretrained(model).float().eval()
    clean = okr_generate(m, None, torch.tensor([list(PROMPT.encode())]), 512, seed=5)[0]
    (tmp_path / "clean.txt").write_bytes(bytes(clean.tolist()))
    (tmp_path / "human.txt").write_bytes(PROMPT.encode() + json.__doc__.encode()[:512])
    others = [("k1.key", "t2.txt"), ("k2.key", "t3.txt"), ("k3.key", "t1.txt"), ("k1.key", "clean.txt"), ("k2.key", "human.txt")]
    verdicts = [judged_here(key, text, "--prompt", PROMPT) for key, text in others]
    assert verdicts == ["not detected"] * len(others), list(zip(others, verdicts))

def test_generate_writes_bytes_detect_scores(venv_bin, root, tmp_path, capsysbinary):
    """What generate writes is what detect scores: raw bytes (a byte model's invalid UTF-8 too), the prompt kept or given back.
    The shell writes the texts from the console script; keygen and detect run through `main` in this process."""
    model = root / "models" / "moe-small"
    assert here(capsysbinary, "keygen", "--seed", "9", "--model", model, "k.key", cwd=tmp_path)[0] == 0
    def scored(text):
        code, out, err = here(capsysbinary, "watermark", "detect", model, "--key", "k.key", text, "--json", "--prompt", PROMPT,
                              cwd=tmp_path)
        assert code == 0, err[-3000:]
        return json.loads(out)
    gen = f"watermark generate {model} --key k.key --prompt '{PROMPT}' --max-new-tokens 200 --seed 3"
    assert shell(venv_bin, f"{gen} > full.txt", tmp_path).returncode == 0
    assert shell(venv_bin, f"{gen} --no-prompt > cont.txt", tmp_path).returncode == 0
    full, cont = (tmp_path / "full.txt").read_bytes(), (tmp_path / "cont.txt").read_bytes()
    assert full == PROMPT.encode() + cont and len(cont) == 200
    a, b = scored("full.txt"), scored("cont.txt")
    assert {**a, "prompt": None} == {**b, "prompt": None} and a["tokens_scored"] <= 200
    # bytes that are not UTF-8 are scored as they are, not as U+FFFD
    (tmp_path / "raw.txt").write_bytes(cont[:50] + b"\xff\xfe\xc3" + cont[50:])
    c = scored("raw.txt")
    assert c["tokens_scored"] == b["tokens_scored"] + 3, (b, c)

def test_ten_megabyte_text_is_refused_in_one_line_without_the_memory(venv_bin, root, tmp_path, capsysbinary):
    "A 10 MB text: one line naming --max-tokens, exit 2, and the process's peak RSS stays that of the model and the text."
    model = root / "models" / "moe-small"
    assert here(capsysbinary, "keygen", "--seed", "1", "--model", model, "k.key", cwd=tmp_path)[0] == 0
    (tmp_path / "big.txt").write_bytes(b"the quick brown fox. " * 500_000)                 # 10.5 MB
    wrapper = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024); print(r.stderr, end='')")
    r = subprocess.run([sys.executable, "-c", wrapper, str(venv_bin / "libortho"), "watermark", "detect", str(model),
                        "--key", str(tmp_path / "k.key"), str(tmp_path / "big.txt")], capture_output=True, text=True, timeout=600)
    head, *err = r.stdout.splitlines()
    code, rss_mb = map(int, head.split())
    assert code == 2 and len(err) == 1 and err[0].startswith("libortho: error:"), r.stdout
    assert "10500000 tokens" in err[0] and "--max-tokens 65536" in err[0], err
    assert rss_mb < 2000, rss_mb                    # scoring it at once would have asked for about 25 GB

def test_compress_revert_against_the_base_model(venv_bin, root, tmp_path, capsysbinary):
    "`--mode revert` with `--reference`: the folder loads, generates at alpha 0 and 1; without --reference, one line, exit 2."
    m = root / "models"
    r = run(venv_bin, "compress", m / "llama-canaries", tmp_path / "rv", "--reference", m / "llama-base", "--method", "delta",
            "--mode", "revert", "--sparsity", "0.01")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "mode: revert" in r.stdout.splitlines() and "method: delta" in r.stdout.splitlines(), r.stdout
    g = run(venv_bin, "generate", tmp_path / "rv", "--alpha", "0", "--prompt", "def ", "--max-new-tokens", "8")
    assert g.returncode == 0 and g.stdout.strip(), g.stderr[-3000:]
    code, out, err = here(capsysbinary, "generate", tmp_path / "rv", "--alpha", "1", "--prompt", "def ", "--max-new-tokens", "8")
    assert code == 0 and out.strip(), err[-3000:]
    code, out, err = here(capsysbinary, "compress", m / "llama-canaries", tmp_path / "rv2", "--mode", "revert", "--method", "random")
    assert code == 2 and err.strip().startswith("libortho: error:") and "needs --reference" in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "rv2").exists(), err
