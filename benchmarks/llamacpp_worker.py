"""llama.cpp side of benchmarks/cpu_model.py, run by the Python of a separate venv that has llama-cpp-python (the
project's venv stays without it). Reads one JSON command per line on stdin, answers one JSON line on stdout:

    {"op": "load", "gguf": PATH, "threads": [1, 2]}     -> {"rss_before", "rss_after", "rss_peak": bytes}
    {"op": "decode", "threads": T, "prompt": TEXT, "n": N} -> {"s": seconds for N greedy tokens after the prompt}
    {"op": "prefill", "threads": T, "text": TEXT, "n": P}  -> {"s": seconds to evaluate the first P tokens of TEXT}
"""
import json, sys, time


def rss(field="VmRSS"):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"): return int(line.split()[1]) * 1024


def main():
    from llama_cpp import Llama
    models = {}
    for line in sys.stdin:
        c = json.loads(line)
        if c["op"] == "load":
            before = rss()
            for t in c["threads"]:
                models[t] = Llama(model_path=c["gguf"], n_threads=t, n_threads_batch=t, n_ctx=1024, n_batch=512,
                                  verbose=False)
            m = models[c["threads"][0]]
            m.reset(); m.eval(m.tokenize(b"Hello")); m.eval([m.sample(top_k=1, temp=0.0)])
            out = {"rss_before": before, "rss_after": rss(), "rss_peak": rss("VmHWM")}
        elif c["op"] == "decode":
            m = models[c["threads"]]
            m.reset()
            m.eval(m.tokenize(c["prompt"].encode()))
            t0 = time.perf_counter()
            for _ in range(c["n"]):
                tok = m.sample(top_k=1, temp=0.0)
                m.eval([tok])
            out = {"s": time.perf_counter() - t0}
        elif c["op"] == "prefill":
            m = models[c["threads"]]
            toks = m.tokenize(c["text"].encode())[:c["n"]]
            m.reset()
            t0 = time.perf_counter()
            m.eval(toks)
            out = {"s": time.perf_counter() - t0, "tokens": len(toks)}
        else:
            out = {"error": f"unknown op {c['op']!r}"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
