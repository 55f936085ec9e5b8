#!/usr/bin/env python3
"""PyTorch's VGG-16 on the same GPU, timed like vgg-gpu-check bench: for reference in the gpu-check table.

Measures torchvision vgg16 (random weights, eval) at 224x224 for each batch: fp32 (PyTorch defaults:
cuDNN convolutions may use TF32) and fp16 (model.half(), channels_last), eager and CUDA graph
(torch.cuda.CUDAGraph). Latency is the median wall time of one whole run: pinned input copied to the
device, forward, logits copied back, synchronize. Writes a JSON list of rows; exits 0 with an empty
list when torch or a GPU is missing (the caller says so).
Usage: torch_bench.py --json OUT [--batches 1,8,64]
"""
import argparse
import json
import statistics
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", required=True)
    ap.add_argument("--batches", default="1,8,64")
    args = ap.parse_args()
    rows = []
    try:
        import torch
        import torchvision
    except ImportError as e:  # pragma: no cover - depends on the machine
        print(f"torch_bench: PyTorch not available ({e})", file=sys.stderr)
        json.dump(rows, open(args.json, "w"))
        return 0
    if not torch.cuda.is_available():
        print("torch_bench: no CUDA device visible to PyTorch", file=sys.stderr)
        json.dump(rows, open(args.json, "w"))
        return 0
    dev = torch.device("cuda")
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {torch.cuda.get_device_name(0)}, "
          f"cudnn {torch.backends.cudnn.version()}, allow_tf32 conv={torch.backends.cudnn.allow_tf32} matmul={torch.backends.cuda.matmul.allow_tf32}")
    torch.manual_seed(1)
    base = torchvision.models.vgg16(weights=None).eval()
    for prec in ("fp32", "fp16"):
        model = base.to(dev)
        if prec == "fp16":
            model = model.half().to(memory_format=torch.channels_last)
        dtype = torch.float16 if prec == "fp16" else torch.float32
        for n in [int(b) for b in args.batches.split(",")]:
            host = torch.randn(n, 3, 224, 224).pin_memory()
            out_host = torch.empty(n, 1000, pin_memory=True)
            static_in = torch.empty(n, 3, 224, 224, device=dev)

            def forward():
                x = static_in.to(dtype)
                if prec == "fp16":
                    x = x.contiguous(memory_format=torch.channels_last)
                return model(x).float()

            with torch.inference_mode():
                for _ in range(3):
                    static_in.copy_(host, non_blocking=True)
                    out_host.copy_(forward(), non_blocking=True)
                torch.cuda.synchronize()
                # CUDA graph of the forward (inputs and outputs at fixed addresses)
                graph = None
                try:
                    s = torch.cuda.Stream()
                    s.wait_stream(torch.cuda.current_stream())
                    with torch.cuda.stream(s):
                        for _ in range(2):
                            forward()
                    torch.cuda.current_stream().wait_stream(s)
                    graph = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(graph):
                        static_out = forward()
                except Exception as e:  # pragma: no cover
                    print(f"torch_bench: graph capture failed for {prec} n{n}: {e}", file=sys.stderr)
                for mode in ("eager", "graph"):
                    if mode == "graph" and graph is None:
                        continue

                    def run():
                        static_in.copy_(host, non_blocking=True)
                        if mode == "graph":
                            graph.replay()
                            out_host.copy_(static_out, non_blocking=True)
                        else:
                            out_host.copy_(forward(), non_blocking=True)
                        torch.cuda.synchronize()

                    run()
                    t0 = time.perf_counter()
                    run()
                    one = max((time.perf_counter() - t0) * 1e3, 0.01)
                    runs = int(min(200, max(10, 500 / one)))
                    times = []
                    for _ in range(runs):
                        t0 = time.perf_counter()
                        run()
                        times.append((time.perf_counter() - t0) * 1e3)
                    lat = statistics.median(times)
                    rows.append({"engine": "torch", "precision": prec, "batch": n, "mode": mode,
                                 "latencyMs": lat, "imagesPerSecond": n * 1000.0 / lat, "runs": runs})
                    print(f"torch {prec} n{n:<3} {mode:<5} latency {lat:8.3f} ms  {n * 1000.0 / lat:8.0f} img/s")
            del graph
            torch.cuda.empty_cache()
    json.dump(rows, open(args.json, "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
