"""Faults: `save_ortho`, `compress_checkpoint` and `WatermarkKey.save` killed with SIGKILL part-way, at many points.

The child process counts the calls that write (file opens, safetensors' writer, renames, mkdir, copies; seen with
`sys.setprofile`) and kills itself just before the k-th. For k spread over the whole run, the destination must then hold
either the previous complete checkpoint or none (never a partial one that loads), and a rerun must complete. Reruns
restart: they remove the hidden partial folder the killed run left and write everything again.

Each run is its own process, forked from one server that imported torch and the library once (a fresh interpreter per run
spent most of the test's time importing); the server never runs a tensor operation, so each fork starts clean."""
import json, os, signal, subprocess, sys, textwrap
from pathlib import Path
import pytest, torch
from libortho_nb.atomic import partials
from libortho_nb.checkpoint import load_ortho
from libortho_nb.okr import WatermarkKey

SERVER = textwrap.dedent('''
    import json, os, signal, sys, torch
    from pathlib import Path
    from libortho_nb.testing import tiny_model
    from libortho_nb.engine import compress
    from libortho_nb.checkpoint import save_ortho
    from libortho_nb.streaming import compress_checkpoint
    from libortho_nb.okr import WatermarkKey
    WRITES = {"open", "serialize_file", "rename", "replace", "mkdir", "makedirs", "copyfile", "copy2", "write", "dump",
              "rmtree", "unlink", "fsync"}
    def run(what, dst, kill_at, arg):
        "One run, in a forked child: count the writing calls and kill the process just before the `kill_at`-th."
        count = 0
        def watch(frame, event, a):
            nonlocal count
            if event == "c_call" and getattr(a, "__name__", "") in WRITES:
                count += 1
                if count == int(kill_at): os.kill(os.getpid(), signal.SIGKILL)
        dst = Path(dst)
        if what == "save_ortho":
            m = compress(tiny_model("llama", vocab=256), sparsity=float(arg), method="magnitude", group_size=32,
                         progress=False)
            sys.setprofile(watch); save_ortho(m, dst); sys.setprofile(None)
        elif what == "compress_checkpoint":
            sys.setprofile(watch)
            compress_checkpoint(Path(arg), dst, None, sparsity=0.05, method="magnitude", group_size=32, progress=False)
            sys.setprofile(None)
        elif what == "key":
            k = WatermarkKey.from_seed(int(arg), 32, 8)
            sys.setprofile(watch); k.save(dst); sys.setprofile(None)
        return count
    for line in sys.stdin:                                        # one JSON request a line; one JSON answer a line
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try: out = {"count": run(*json.loads(line))}
            except BaseException as e: out = {"error": repr(e)}
            os.write(w, json.dumps(out).encode()); os._exit(0)
        os.close(w)
        with os.fdopen(r) as f: got = f.read()
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        print(json.dumps({"code": code, **(json.loads(got) if got else {})}), flush=True)
''')

@pytest.fixture(scope="module")
def child():
    "Run one child: `child(what, dst, kill_at, arg)` -> (returncode, the count of writes it saw when it was not killed)."
    env = dict(os.environ, OMP_NUM_THREADS="1")
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=env)
    def run(*args):
        server.stdin.write(json.dumps([str(a) for a in args]) + "\n"); server.stdin.flush()
        line = server.stdout.readline()
        assert line, f"the fork server died (exit {server.poll()})"
        r = json.loads(line)
        assert "error" not in r, r["error"]
        assert r["code"] in (0, -signal.SIGKILL), r
        return r["code"], r.get("count") if r["code"] == 0 else None
    yield run
    server.stdin.close(); server.wait(timeout=60)

def points(total, n=5):
    "n kill points spread over 1..total, first and last included."
    return sorted({1 + round(i * (total - 1) / (n - 1)) for i in range(n)})

def sparsity_of(folder):
    return json.load(open(folder / "config.json"))["quantization_config"]["sparsity"]

def test_save_ortho_killed_anywhere_leaves_old_or_nothing(child, tmp_path):
    dst = tmp_path / "ckpt"
    code, _ = child("save_ortho", dst, 0, 0.02)                         # the previous complete checkpoint
    assert code == 0 and sparsity_of(dst) == 0.02
    (dst / "tokenizer.json").write_text("{}")                           # a file of the user's, kept by saves
    code, total = child("save_ortho", tmp_path / "probe", 0, 0.05)      # how many writes a save makes
    assert total > 10
    seen = []
    for k in points(total):
        code, _ = child("save_ortho", dst, k, 0.05)
        assert code == -signal.SIGKILL, k
        if dst.exists():                                                # the old one, complete, and it loads
            seen.append(sparsity_of(dst))
            assert sparsity_of(dst) == 0.02 and (dst / "tokenizer.json").exists(), k
            load_ortho(dst)
        else: seen.append(None)                                         # killed between the two renames
    assert set(seen) <= {0.02, None}
    code, _ = child("save_ortho", dst, 0, 0.05)                         # a rerun completes and clears leftovers
    assert code == 0 and sparsity_of(dst) == 0.05 and partials(dst) == [] and (dst / "tokenizer.json").exists()
    load_ortho(dst)
    print(f"save_ortho: {total} writes, killed at {points(total)}: destination held {seen}")

def test_compress_checkpoint_killed_anywhere_leaves_nothing(child, tmp_path):
    from libortho_nb.testing import tiny_model
    src = tmp_path / "dense"
    tiny_model("llama", vocab=256).save_pretrained(src, max_shard_size="40KB")
    code, total = child("compress_checkpoint", tmp_path / "probe", 0, src)
    assert code == 0 and total > 10
    ref = {p.name: p.read_bytes() for p in (tmp_path / "probe").iterdir()}
    dst = tmp_path / "out"
    for k in points(total):
        code, _ = child("compress_checkpoint", dst, k, src)
        assert code == -signal.SIGKILL, k
        assert not dst.exists(), f"killed at write {k} of {total}, {dst} exists"   # never a partial checkpoint
    assert partials(dst)                                                # what the kills left, hidden
    code, _ = child("compress_checkpoint", dst, 0, src)                 # a rerun restarts and completes
    assert code == 0 and partials(dst) == []
    assert {p.name: p.read_bytes() for p in dst.iterdir()} == ref      # bit for bit what an uninterrupted run writes
    print(f"compress_checkpoint: {total} writes, killed at {points(total)}: no destination each time")

def test_key_save_killed_anywhere_leaves_old_key(child, tmp_path):
    dst = tmp_path / "k.key"
    assert child("key", dst, 0, 1)[0] == 0
    old = WatermarkKey.load(dst).fingerprint
    code, total = child("key", tmp_path / "probe.key", 0, 2)
    for k in points(total, 3):
        assert child("key", dst, k, 2)[0] == -signal.SIGKILL
        assert WatermarkKey.load(dst).fingerprint == old                 # the previous key, intact
    assert child("key", dst, 0, 2)[0] == 0
    assert WatermarkKey.load(dst).fingerprint == WatermarkKey.from_seed(2, 32, 8).fingerprint
    assert partials(dst) == []
    print(f"WatermarkKey.save: {total} writes, killed at {points(total, 3)}: the old key every time")
