"compress_checkpoint split across 2 torchrun ranks (gloo on CPU) writes the same folder, byte for byte, as one process (RTN and GPTQ Base)."
import json, os, subprocess, sys, textwrap
from pathlib import Path
import pytest
import torch
from libortho_nb.testing import tiny_model
from libortho_nb.streaming import compress_checkpoint

VARIANTS = {"activation": dict(method="activation"), "decomposed": dict(method="activation", inputs="decomposed"),
            "magnitude": dict(method="magnitude"), "gptq": dict(base="gptq"),
            "gptq_decomposed": dict(base="gptq", inputs="decomposed")}

SCRIPT = textwrap.dedent('''
    import json, os, sys
    import torch, torch.distributed as dist
    import libortho_nb.streaming as st
    torch.set_num_threads(1)
    src, out, variants = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    loaded, load = [], st._load_block
    def spy(model, ckpt, i, *args):                                # which blocks this rank materializes
        loaded.append(i); return load(model, ckpt, i, *args)
    st._load_block = spy
    calib = torch.load(os.path.join(out, "calib.pt"))
    for name, kw in variants.items():
        loaded.clear()
        st.compress_checkpoint(src, os.path.join(out, name), None if kw.get("method") == "magnitude" else calib,
                               sparsity=0.05, group_size=32, distributed=True, progress=False, **kw)
        json.dump(loaded, open(os.path.join(out, f"{name}.rank{rank}.json"), "w"))
    dist.destroy_process_group()
''')


def folder_bytes(d: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(d.iterdir())}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    "A sharded 4-block Llama, its single-process streams, and one torchrun of 2 ranks over the same variants."
    root = tmp_path_factory.mktemp("stream_dist")
    model = tiny_model("llama", layers=4)
    src = root / "dense"; model.save_pretrained(src, max_shard_size="40KB")
    g = torch.Generator().manual_seed(1)
    calib = [torch.randint(0, 128, (2, 16), generator=g), torch.randint(0, 128, (3, 9), generator=g)]
    dist_out = root / "dist"; dist_out.mkdir(); torch.save(calib, dist_out / "calib.pt")
    threads = torch.get_num_threads(); torch.set_num_threads(1)    # the ranks run with 1 thread each: same kernels
    try:
        single = {}
        for name, kw in VARIANTS.items():
            single[name] = root / "single" / name
            compress_checkpoint(src, single[name], None if kw.get("method") == "magnitude" else calib, sparsity=0.05,
                                group_size=32, progress=False, **kw)
    finally: torch.set_num_threads(threads)
    script = root / "stream.py"; script.write_text(SCRIPT)
    torchrun = Path(sys.executable).parent / "torchrun"
    r = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", str(script), str(src), str(dist_out),
                        json.dumps(VARIANTS)], capture_output=True, text=True, timeout=240, env=os.environ | {"OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return single, dist_out


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_two_ranks_write_the_single_process_folder(run, variant):
    single, dist_out = run
    a, b = folder_bytes(single[variant]), folder_bytes(dist_out / variant)
    assert sorted(a) == sorted(b)
    assert len([f for f in a if f.endswith(".safetensors")]) == 5    # 4 blocks + the rest
    for f in a: assert a[f] == b[f], f


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_rank_materializes_only_its_blocks(run, variant):
    _, dist_out = run
    loaded = [json.loads((dist_out / f"{variant}.rank{r}.json").read_text()) for r in range(2)]
    # original-input calibration: forward pass, then decomposition, each reading the rank's blocks once
    twice = variant in ("activation", "gptq")
    assert loaded[0] == ([0, 1, 0, 1] if twice else [0, 1]), loaded
    assert loaded[1] == ([2, 3, 2, 3] if twice else [2, 3]), loaded
