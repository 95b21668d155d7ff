"""The CUDA sources exported by `libortho_nb.kernels` compile for sm_90, with every kernel the launchers call.

CuPy compiles these strings with NVRTC at run time, on the GPU. This test compiles the very same strings, with the same
`NVRTC_OPTIONS`, with `nvcc` (a CPU-only CI machine has it) so that a syntax or type error, a kernel name the launcher
asks for but the source does not define, or a register spill to local memory fails CI before anyone gets a GPU. A missing `nvcc` is a failure, not a
skip. An NVRTC compile (the compiler CuPy uses) runs too when `libnvrtc` is found; point `LIBORTHO_NVRTC` at it otherwise.
"""
import ctypes, ctypes.util, glob, os, re, shutil, subprocess, sys
from pathlib import Path
import pytest
from libortho_nb.kernels import csr, dual_gemm

SOURCES = {"csr": (csr.CSR_SOURCE, sorted(csr.CSR_KERNELS.values())),
           "dual_gemm": (dual_gemm.DUAL_GEMM_SOURCE, sorted(dual_gemm.DUAL_GEMM_KERNELS.values()))}
ARCH = "sm_90"

def nvcc() -> str:
    path = shutil.which("nvcc")
    if path is None:
        pytest.fail("nvcc is not on PATH: the kernel sources cannot be compile-checked. Install the CUDA toolkit "
                    "(CUDA 12.x or 13.x; /usr/local/cuda/bin/nvcc on the dev machines) and put its bin folder on PATH.")
    return path

def compile_cubin(source: str, tmp_path: Path, name: str="kernels"):
    "Compile `source` for sm_90 with nvcc; returns (returncode, cubin bytes or None, compiler output)."
    cu, cubin = tmp_path / f"{name}.cu", tmp_path / f"{name}.cubin"
    cu.write_text(source)
    r = subprocess.run([nvcc(), f"-arch={ARCH}", "-cubin", *csr.NVRTC_OPTIONS, "-Xptxas", "-v", "-Werror", "all-warnings", "-o", str(cubin), str(cu)],
                       capture_output=True, text=True, timeout=600)
    return r.returncode, (cubin.read_bytes() if r.returncode == 0 else None), r.stdout + r.stderr

PROPS = re.compile(r"Function properties for (\w+)\s+(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")

@pytest.mark.parametrize("name", sorted(SOURCES))
def test_source_compiles_for_sm90(name, tmp_path):
    source, kernels = SOURCES[name]
    rc, cubin, log = compile_cubin(source, tmp_path, name)
    assert rc == 0, f"nvcc failed on the {name} source:\n{log}"
    missing = [k for k in kernels if k.encode() + b"\0" not in cubin]
    assert not missing, f"kernels the launcher calls but the cubin lacks: {missing}"
    props = {m[0]: tuple(map(int, m[1:])) for m in PROPS.findall(log)}
    assert sorted(props) == kernels, f"ptxas compiled {sorted(props)}, the launcher table names {kernels}"
    local = {k: v for k, v in props.items() if any(v)}
    assert not local, f"kernels using local memory (stack frame, spill stores, spill loads bytes): {local}"

def test_broken_source_fails(tmp_path):
    "The check above can fail: a type error in an otherwise good source makes nvcc (and so the test) fail."
    source, _ = SOURCES["csr"]
    broken = source.replace("*yp = lo_from_f<T>(lo_to_f(*yp) + alpha * a);", "*yp = lo_from_f<T>(lo_to_f(*yp) + alpha * a, yp);")
    assert broken != source
    rc, _, log = compile_cubin(broken, tmp_path, "broken")
    assert rc != 0 and "error" in log

def nvcc_includes():
    "The include folders nvcc itself uses (it may be a wrapper script, so ask it rather than resolve its path)."
    nv = shutil.which("nvcc")
    if nv is None: return []
    r = subprocess.run([nv, "--dryrun", "-cubin", f"-arch={ARCH}", "x.cu"], capture_output=True, text=True)
    return re.findall(r'-I"?([^"\s]+)', "".join(l for l in (r.stdout + r.stderr).splitlines(True) if "INCLUDES=" in l))

def libnvrtc():
    "Path of a libnvrtc shared library, or None."
    cands = [os.environ.get("LIBORTHO_NVRTC"), ctypes.util.find_library("nvrtc")]
    roots = [os.environ.get("CUDA_PATH"), os.environ.get("CUDA_HOME"), "/usr/local/cuda"]
    for root in filter(None, roots): cands += sorted(glob.glob(os.path.join(root, "lib*", "libnvrtc.so*")))
    for sp in sys.path: cands += sorted(glob.glob(os.path.join(sp, "nvidia", "*", "lib", "libnvrtc.so*")))
    return next((c for c in cands if c and os.path.exists(c) and "builtins" not in c), None)

@pytest.mark.parametrize("name", sorted(SOURCES))
def test_source_compiles_with_nvrtc(name):
    "NVRTC has no host standard headers: the source must stand on cuda_fp16.h, cuda_bf16.h and builtins alone."
    path = libnvrtc()
    if path is None: pytest.skip("libnvrtc not found (set LIBORTHO_NVRTC to its path); the nvcc compile above still ran")
    lib = ctypes.CDLL(path)
    source, kernels = SOURCES[name]
    prog = ctypes.c_void_p()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), f"{name}.cu".encode(), 0, None, None) == 0
    opts = [f"-arch={ARCH}", *csr.NVRTC_OPTIONS] + [f"-I{i}" for i in nvcc_includes()]  # what the launcher passes + headers
    opts = [o.encode() for o in opts]
    rc = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
    n = ctypes.c_size_t(); lib.nvrtcGetProgramLogSize(prog, ctypes.byref(n))
    buf = ctypes.create_string_buffer(n.value); lib.nvrtcGetProgramLog(prog, buf)
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    assert rc == 0, f"NVRTC failed on the {name} source:\n{buf.value.decode(errors='replace')}"
