namespace Vgg.Perf;

/// <summary>Placeholder namespace anchor until the harness lands.</summary>
internal static class PerfInfo
{
}
