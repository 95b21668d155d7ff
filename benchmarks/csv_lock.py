"""One lock per CSV, shared by the benchmark scripts that append to a CSV while another run of them may be writing it."""
import fcntl
from contextlib import contextmanager


@contextmanager
def locked(path):
    "Hold an exclusive lock on `path` + '.lock' (two runs writing one CSV at once each keep the other's rows)."
    with open(f"{path}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try: yield
        finally: fcntl.flock(f, fcntl.LOCK_UN)
