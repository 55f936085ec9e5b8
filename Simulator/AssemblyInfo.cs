// stackalloc buffers in the per-instruction handlers are filled before use; skipping their zeroing
// matters at a few hundred million simulated lane-instructions per second.
[module: System.Runtime.CompilerServices.SkipLocalsInit]
