using Microsoft.Extensions.Logging;
using Vgg.Engine.Cpu;

namespace Vgg.Engine.Backends;

/// <summary>Which backend a session should use.</summary>
public enum BackendChoice
{
    /// <summary>CUDA when a registered CUDA backend finds a driver and a device, else the CPU (with one log message saying why).</summary>
    Auto,
    /// <summary>The CPU backend.</summary>
    Cpu,
    /// <summary>The CUDA backend; an error when it is not available.</summary>
    Cuda,
}

/// <summary>
/// Creates backends. The CPU backend is built in; the CUDA backend registers a factory here
/// (<see cref="RegisterCuda"/>) so that sessions find it without this project depending on it.
/// </summary>
public static class BackendRegistry
{
    /// <summary>Tries to create a backend; on failure returns false with a one-line reason ("no CUDA driver (libcuda.so.1 not found)").</summary>
    public delegate bool TryCreateBackend(int threads, out IBackend? backend, out string? reason);

    private static TryCreateBackend? _cuda;
    private static readonly object Lock = new();

    /// <summary>Registers the CUDA backend factory (the last registration wins).</summary>
    public static void RegisterCuda(TryCreateBackend factory)
    {
        lock (Lock) _cuda = factory;
    }

    /// <summary>
    /// Creates the backend for <paramref name="choice"/>.
    /// </summary>
    /// <param name="choice">Auto, Cpu or Cuda.</param>
    /// <param name="threads">CPU threads (0: every core).</param>
    /// <param name="logger">Receives the one message when Auto falls back to the CPU.</param>
    /// <exception cref="VggEngineException">Cuda was asked for and is not available (the message says why).</exception>
    public static IBackend Create(BackendChoice choice, int threads, ILogger? logger = null)
    {
        TryCreateBackend? cuda;
        lock (Lock) cuda = _cuda;
        if (choice == BackendChoice.Cpu) return new CpuBackend(threads);
        string reason = "the CUDA backend is not part of this build";
        if (cuda is not null)
        {
            if (cuda(threads, out var b, out var why) && b is not null) return b;
            reason = why ?? "unknown reason";
        }
        if (choice == BackendChoice.Cuda)
            throw new VggEngineException($"the CUDA backend is not available: {reason}");
        logger?.LogInformation("CUDA not available ({Reason}); running on the CPU backend", reason);
        return new CpuBackend(threads);
    }
}
