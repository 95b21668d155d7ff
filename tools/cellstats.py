"""python tools/cellstats.py REV: layout statistics of the notebooks at git revision REV (run inside the repo).

Export cells (first line `#| export`), those holding more than one top-level def/class, code-cell lines over 110 and 120
characters, `;` statement separators in export cells (tokens, not characters in strings), export-cell and definition lengths."""
import ast, io, json, subprocess, sys, statistics, tokenize
rev = sys.argv[1]
files = [f for f in subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "nbs"], capture_output=True, text=True).stdout.split()
         if f.endswith(".ipynb")]
exp = multi = semi = 0; long110 = long120 = 0; cell_lines = []; fn_lines = []
for f in files:
    nb = json.loads(subprocess.run(["git", "show", f"{rev}:{f}"], capture_output=True, text=True).stdout)
    for c in nb["cells"]:
        if c["cell_type"] != "code": continue
        src = "".join(c["source"])
        lines = src.splitlines()
        long110 += sum(len(l) > 110 for l in lines); long120 += sum(len(l) > 120 for l in lines)
        if not lines or not lines[0].startswith("#| export"): continue
        exp += 1
        body = "\n".join(l for l in lines if not l.startswith("#|"))
        try: tree = ast.parse(body)
        except SyntaxError: continue
        defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        multi += len(defs) > 1
        cell_lines.append(len(lines))
        for n in defs: fn_lines.append(n.end_lineno - n.lineno + 1)
        semi += sum(1 for t in tokenize.generate_tokens(io.StringIO(body).readline) if t.type == tokenize.OP and t.string == ";")
print(f"{rev}: notebooks {len(files)}, export cells {exp}, export cells with >1 definition {multi}, "
      f"code lines >110 chars {long110}, >120 {long120}, export-cell statement separators ';' {semi}, "
      f"longest export cell {max(cell_lines)} lines, median {statistics.median(cell_lines)}, "
      f"longest definition {max(fn_lines)} lines, median {statistics.median(fn_lines)}")
