"WatermarkKey.verify across real torch.distributed processes (gloo on CPU, 2 ranks)."
import os, socket, traceback
from pathlib import Path
import pytest
import torch.distributed as dist
import torch.multiprocessing as mp
from libortho_nb.okr import WatermarkKey

HIDDEN, EXPERTS = 32, 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SEEDS = {"same": [11, 11], "wrong": [11, 12]}   # per scenario, the seed each rank uses


def _worker(rank: int, world: int, port: int, outdir: str):
    "Each rank runs every scenario: builds its key from its seed, calls verify, writes what happened to `outdir`."
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        for name, seeds in SEEDS.items():
            key = WatermarkKey.from_seed(seeds[rank], HIDDEN, EXPERTS)
            try: result = "ok " + key.verify()
            except ValueError as e: result = "ValueError " + str(e)
            except Exception: result = "other " + traceback.format_exc()
            Path(outdir, f"{name}.rank{rank}.txt").write_text(result)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, list[str]]:
    "One spawn of 2 gloo processes (each import of the library costs seconds) runs both scenarios."
    out = tmp_path_factory.mktemp("okr_dist")
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    return {name: [Path(out, f"{name}.rank{r}.txt").read_text() for r in range(2)] for name in SEEDS}


def test_same_seed_verifies(results):
    fp = WatermarkKey.from_seed(11, HIDDEN, EXPERTS).fingerprint
    assert results["same"] == [f"ok {fp}", f"ok {fp}"]


def test_wrong_seed_raises_on_every_rank(results):
    good, bad = (WatermarkKey.from_seed(s, HIDDEN, EXPERTS).fingerprint for s in (11, 12))
    for rank, r in enumerate(results["wrong"]):
        assert r.startswith("ValueError WatermarkKey fingerprint mismatch across ranks"), r
        assert f"rank 0: {good[:16]}" in r and f"rank 1: {bad[:16]}" in r, r   # names who holds which key
        assert f"this is rank {rank}" in r, r
