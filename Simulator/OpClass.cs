namespace Vgg.Engine.Simulator;

/// <summary>Opcode classes for the per-launch counters.</summary>
public enum OpClass : byte
{
    Integer, Logic, Float32, Float64, Half, Conversion, Move, Compare, Control, Barrier,
    WarpShuffle, WarpVote, Mma, LdMatrix,
    GlobalLoad, GlobalStore, SharedLoad, SharedStore, LocalLoad, LocalStore, ParamLoad, GenericLoad, GenericStore,
    AsyncCopy, Atomic, Other,
}

