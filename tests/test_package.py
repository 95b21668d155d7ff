"A fresh process that only does `import libortho_nb` can load a converted checkpoint with AutoModelForCausalLM."
import subprocess, sys, textwrap

def test_plain_import_registers_the_loader(tmp_path):
    save = textwrap.dedent(f"""
        import torch, libortho_nb as lo
        from transformers import LlamaConfig, LlamaForCausalLM
        torch.manual_seed(0)
        m = LlamaForCausalLM(LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=2)).eval()
        lo.compress(m, None, sparsity=0.02, method="magnitude", mode="outlier", group_size=32, progress=False)
        lo.save_ortho(m, r"{tmp_path}")
        torch.save(m(torch.arange(16)[None]).logits, r"{tmp_path / 'ref.pt'}")
    """)
    load = textwrap.dedent(f"""
        import torch, libortho_nb
        from transformers import AutoModelForCausalLM
        m = AutoModelForCausalLM.from_pretrained(r"{tmp_path}").eval()
        assert len(libortho_nb.ortho_layers(m)) == 14
        assert torch.equal(m(torch.arange(16)[None]).logits, torch.load(r"{tmp_path / 'ref.pt'}"))
        print("ok")
    """)
    for code in (save, load):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().endswith("ok")
