import subprocess, sys

def test_readme_matches_index_notebook(root):
    r = subprocess.run([sys.executable, str(root / "tools" / "readme.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
