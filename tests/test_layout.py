"""The package's layering, read from its source: the library never imports the lab (the command line only inside `demo`'s
functions), every import points down the library's order, and there is no cycle."""
import ast
from pathlib import Path
import pytest

# The library from the bottom up; a module may import only modules before it. `lab` builds on all of them.
ORDER = ["checks", "atomic", "ops", "layers", "experts", "kernels.csr", "kernels.dual_gemm", "kernels.cpu", "calibration",
         "engine", "checkpoint", "gptq", "streaming",
         "okr", "detector", "testing", "cli", "__init__"]
LAB = ["lab.corpus", "lab.training", "lab.canaries", "lab.privacy", "lab.okr_eval", "lab.real", "lab.real_moe", "lab.wm_baselines", "lab.explorers"]

def module_name(root, path):
    rel = path.relative_to(root / "libortho_nb").with_suffix("")
    return ".".join(rel.parts) if rel.name != "__init__" or len(rel.parts) == 1 else ".".join(rel.parts[:-1]) + ".__init__"

def imports(root, path):
    "The libortho_nb modules `path` imports: `(module, top_level)` pairs, `top_level` False inside functions."
    tree = ast.parse(path.read_text())
    inside = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(f)}
    pkg = module_name(root, path).rsplit(".", 1)[0] if "." in module_name(root, path) else ""
    out = []
    for n in ast.walk(tree):
        names = []
        if isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:                                             # relative: .x from libortho_nb, ..x from a subpackage
                parts = pkg.split(".") if pkg else []
                parts = parts[:len(parts) - (n.level - 1)] if n.level > 1 else parts
                base = ".".join(parts + ([base] if base else []))
            elif base.startswith("libortho_nb"): base = base[len("libortho_nb."):] if base != "libortho_nb" else ""
            else: continue
            names = [f"{base}.{a.name}" if base else a.name for a in n.names] + ([base] if base else [])
        elif isinstance(n, ast.Import):
            names = [a.name[len("libortho_nb."):] for a in n.names if a.name.startswith("libortho_nb.")]
        known = set(ORDER) | set(LAB)
        for m in names:
            if m in known: out.append((m, id(n) not in inside))
    return out

@pytest.fixture
def graph(root):
    files = [p for p in (root / "libortho_nb").rglob("*.py") if p.name != "_modidx.py"]
    g = {module_name(root, p): imports(root, p) for p in files}
    g.pop("kernels.__init__", None); g.pop("lab.__init__", None)
    return g

def test_every_module_is_placed(graph):
    assert set(graph) == set(ORDER) | set(LAB), set(graph) ^ (set(ORDER) | set(LAB))

def test_the_library_never_imports_the_lab(graph):
    for m in ORDER:
        bad = [(d, top) for d, top in graph[m] if d.startswith("lab.") and (top or m != "cli")]
        assert not bad, f"{m} imports {bad}"

def test_imports_point_down(graph):
    rank = {m: i for i, m in enumerate(ORDER + LAB)}
    for m, deps in graph.items():
        for d, top in deps:
            if m == "cli" and d.startswith("lab."): continue            # `libortho demo` runs the lab, inside its functions
            assert rank[d] < rank[m], f"{m} imports {d}, which comes after it"
