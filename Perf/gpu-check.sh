#!/usr/bin/env bash
# Perf/gpu-check.sh: the CUDA backend's checks and benchmark on a GPU machine that has no .NET.
#
# Prepare (on a machine with the .NET SDK):
#   dotnet tool restore && dotnet pwsh ./build.ps1 publish-gpu
# which writes artifacts/gpu-check-linux-x64/ (self-contained, trimmed, about 25 MB). Carry that folder
# with the repository (device tool: carry ["artifacts/gpu-check-linux-x64"]) and run, from the
# repository root:
#   bash Perf/gpu-check.sh
#
# What it runs, each stage under its own time limit so that the whole fits in 8 minutes:
#   1. vgg-gpu-check info       the libraries found (driver, NVRTC, cuBLAS, cuDNN; Python wheels too), the device
#   2. vgg-gpu-check kernels    ptxas report for the device's architecture (and warms the kernel cache)
#   3. vgg-gpu-check selftest   every kernel variant and whole networks against the CPU references
#                               (FP32 1e-5, FP16 1e-2, INT8 bit-exact; graph replay bit-identical to eager)
#   4. vgg-gpu-check bench      VGG-16 224x224, batch 1/8/64, FP32/FP16/INT8, eager and CUDA graph, beside cuDNN
#   5. Perf/GpuCheck/torch_bench.py   PyTorch's VGG-16 on the same GPU, when python3 has torch with CUDA
#   6. Perf/GpuCheck/summary.py       the short table, printed last
# Logs and JSON go to $OUT (the device tool's output folder) or to ./gpu-check-out.
# Exit status: 0 when the self-test passed, 1 when a check failed, 2 when the binary is missing, 3 when
# there is no usable GPU. Benchmark and PyTorch problems are reported but do not change the status.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)
bin="$repo/artifacts/gpu-check-linux-x64/vgg-gpu-check"
out="${OUT:-$repo/gpu-check-out}"
mkdir -p "$out"
start=$(date +%s)

log() { printf '[gpu-check %3ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

if [ ! -x "$bin" ]; then
  echo "gpu-check: $bin is missing or not executable." >&2
  echo "gpu-check: build it where .NET is installed: 'dotnet pwsh ./build.ps1 publish-gpu', and carry artifacts/gpu-check-linux-x64." >&2
  exit 2
fi

# ---- where the NVIDIA libraries are: the driver from the system, the rest possibly from Python wheels
py=""
for candidate in python3 /opt/torch/.venv/bin/python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1; then py=$(command -v "$candidate"); break; fi
done
if [ -n "$py" ]; then
  # site-packages of that python (wheels put CUDA 13 libraries in nvidia/cu13/lib, cuDNN in nvidia/cudnn/lib)
  sites=$("$py" -c 'import site, sys; print(":".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null || true)
  if [ -n "$sites" ]; then
    export VGG_PYTHON_SITE_PACKAGES="$sites"
    libdirs=""
    IFS=':' read -r -a site_list <<< "$sites"
    for s in "${site_list[@]}"; do
      for d in "$s"/nvidia/*/lib; do
        [ -d "$d" ] && libdirs="${libdirs:+$libdirs:}$d"
      done
    done
    # cuDNN 9 opens its sub-libraries and NVRTC its builtins by name: put the wheel folders on the loader path
    if [ -n "$libdirs" ]; then export LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
  fi
fi
export VGG_KERNEL_CACHE_DIR="${VGG_KERNEL_CACHE_DIR:-/tmp/vgg-kernel-cache}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1

device="GPU"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu --format=csv > "$out/nvidia-smi.txt" 2>&1 || true
  cat "$out/nvidia-smi.txt"
  device=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 || echo GPU)
fi

# ---- 1. info
log "info"
set +e
timeout 60 "$bin" info 2>&1 | tee "$out/info.txt"
info_rc=${PIPESTATUS[0]}
set -e
if [ "$info_rc" -ne 0 ]; then
  echo "gpu-check: no usable CUDA device or NVRTC (vgg-gpu-check info exit $info_rc); see $out/info.txt" >&2
  exit 3
fi

# ---- 2. kernels for this device (compiles everything once; the cache serves the later stages)
arch=$(sed -n 's/.*kernels compile to sm_\([0-9]*\).*/\1/p' "$out/info.txt" | head -n 1)
log "kernels (arch ${arch:-90})"
set +e
timeout 180 "$bin" kernels --arch "${arch:-90}" > "$out/kernels.txt" 2> "$out/kernels.err"
kernels_rc=$?
set -e
log "kernels exit $kernels_rc ($(grep -c '^vgg_' "$out/kernels.txt" || true) kernels reported)"

# ---- 3. self-test
log "selftest"
set +e
timeout 300 "$bin" selftest > "$out/selftest.txt" 2>&1
selftest_rc=$?
set -e
grep -E '^(FAIL|FAILED|selftest:)' "$out/selftest.txt" | head -n 40 || true
log "selftest exit $selftest_rc"

# ---- 4. benchmark
log "bench"
set +e
timeout 240 "$bin" bench --batches 1,8,64 --precisions fp32,fp16,int8 --layers --json "$out/bench.json" > "$out/bench.txt" 2>&1
bench_rc=$?
set -e
log "bench exit $bench_rc"

# ---- 5. PyTorch on the same GPU, when there is one
torch_json="$out/torch.json"
if [ -n "$py" ] && "$py" -c 'import torch, torchvision; assert torch.cuda.is_available()' >/dev/null 2>&1; then
  log "pytorch"
  set +e
  timeout 150 "$py" "$repo/Perf/GpuCheck/torch_bench.py" --json "$torch_json" --batches 1,8,64 > "$out/torch.txt" 2>&1
  torch_rc=$?
  set -e
  log "pytorch exit $torch_rc"
else
  log "pytorch: not available"
  echo "[]" > "$torch_json"
fi

# ---- 6. the short table, last
log "done in $(( $(date +%s) - start )) s; logs in $out"
if [ "$bench_rc" -ne 0 ]; then tail -n 20 "$out/bench.txt" || true; fi
if [ -n "$py" ]; then
  "$py" "$repo/Perf/GpuCheck/summary.py" "$out/bench.json" "$torch_json" "$out/selftest.txt" "$device" || tail -n 25 "$out/bench.txt"
else
  tail -n 25 "$out/bench.txt"
  grep -E '^selftest:' "$out/selftest.txt" || true
fi

if [ "$selftest_rc" -eq 3 ]; then exit 3; fi
if [ "$selftest_rc" -ne 0 ]; then exit 1; fi
exit 0
