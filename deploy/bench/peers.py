#!/usr/bin/env python3
"""Encoder throughput of rtcx's peers on the same texts and MiniLM weights.

Runs PyTorch eager (transformers), ONNX Runtime fp32 and ONNX Runtime dynamic int8
(per-channel weights, transformer-optimizer fused attention) on the texts rtcx's own
`rtcx-model bench` uses, with length-sorted batches, mean pooling with the attention
mask, and a fixed thread count. Prints one JSON object per engine.

Driven by deploy/bench/inference.sh, which also runs rtcx and prints the ratios; not part
of CI (PyPI's torch wheel is several GB).
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np


def read_texts(path):
    texts = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            text = line.split("\t", 1)[1] if "\t" in line else line
            if text:
                texts.append(text)
    return texts


def batches(tokenizer, texts, batch, max_len):
    """Length-sorted batches padded to their longest text, like rtcx's analyzer."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = []
    for start in range(0, len(order), batch):
        chunk = [texts[i] for i in order[start : start + batch]]
        enc = tokenizer(chunk, padding="longest", truncation=True, max_length=max_len, return_tensors="np")
        out.append(enc)
    return out


def mean_pool(hidden, mask):
    m = mask[..., None].astype(np.float32)
    return (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)


def timed(run, prepared, passes):
    run(prepared[0])  # warm-up
    started = time.perf_counter()
    for _ in range(passes):
        for b in prepared:
            run(b)
    return time.perf_counter() - started


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--work-dir", default=None, help="where the exported ONNX files go")
    args = ap.parse_args()

    import onnxruntime as ort
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(args.threads)
    texts = read_texts(args.texts)
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    prepared = batches(tokenizer, texts, args.batch, args.max_len)
    tokens = sum(int(b["attention_mask"].sum()) for b in prepared)
    common = {"texts": len(texts), "mean_tokens": round(tokens / len(texts), 1), "batch": args.batch,
              "threads": args.threads, "passes": args.passes}

    def report(engine, secs, reference=None, pooled=None):
        row = dict(engine=engine, texts_per_s=round(len(texts) * args.passes / secs, 1), **common)
        if reference is not None:
            cos = [float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))) for a, b in zip(reference, pooled)]
            row["cosine_to_fp32_mean"] = round(float(np.mean(cos)), 4)
            row["cosine_to_fp32_min"] = round(float(np.min(cos)), 4)
        print(json.dumps(row), flush=True)

    model = AutoModel.from_pretrained(args.model_dir).eval()

    def torch_run(b):
        with torch.inference_mode():
            out = model(input_ids=torch.from_numpy(b["input_ids"]), attention_mask=torch.from_numpy(b["attention_mask"]),
                        token_type_ids=torch.from_numpy(b["token_type_ids"]))
        return mean_pool(out.last_hidden_state.numpy(), b["attention_mask"])

    report("pytorch-eager-fp32", timed(torch_run, prepared, args.passes))
    reference = np.concatenate([torch_run(b) for b in prepared])

    work = args.work_dir or tempfile.mkdtemp(prefix="rtcx-peers-")
    os.makedirs(work, exist_ok=True)
    fp32_path = os.path.join(work, "minilm-fp32.onnx")
    if not os.path.exists(fp32_path):
        sample = prepared[-1]

        class Encoder(torch.nn.Module):
            """Positional inputs for the exporter; the last hidden state out."""

            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state

        torch.onnx.export(
            Encoder(model),
            (torch.from_numpy(sample["input_ids"]), torch.from_numpy(sample["attention_mask"]),
             torch.from_numpy(sample["token_type_ids"])),
            fp32_path,
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in ["input_ids", "attention_mask", "token_type_ids",
                                                              "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    int8_path = os.path.join(work, "minilm-int8.onnx")
    if not os.path.exists(int8_path):
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.transformers import optimizer

        fused_path = os.path.join(work, "minilm-fused.onnx")
        opt = optimizer.optimize_model(fp32_path, model_type="bert", num_heads=12, hidden_size=384)
        opt.save_model_to_file(fused_path)
        quantize_dynamic(fused_path, int8_path, per_channel=True, weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})

    for name, path in [("onnxruntime-fp32", fp32_path), ("onnxruntime-int8-per-channel", int8_path)]:
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        names = {i.name for i in sess.get_inputs()}

        def ort_run(b, sess=sess, names=names):
            feed = {k: b[k].astype(np.int64) for k in ["input_ids", "attention_mask", "token_type_ids"] if k in names}
            return mean_pool(sess.run(None, feed)[0], b["attention_mask"])

        secs = timed(ort_run, prepared, args.passes)
        pooled = np.concatenate([ort_run(b) for b in prepared])
        report(name, secs, reference, pooled)
    return 0


if __name__ == "__main__":
    sys.exit(main())
