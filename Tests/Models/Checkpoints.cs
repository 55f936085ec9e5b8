using Vgg.Engine.Loader.Checkpoints;
using Vgg.Engine.Models;

namespace Vgg.Engine.Tests.Models;

/// <summary>Reads a real checkpoint (PyTorch or safetensors) through the loader, as the CLI does.</summary>
internal static class Checkpoints
{
    public static StateDict Read(string path) => WeightsFile.Read(path);
}
