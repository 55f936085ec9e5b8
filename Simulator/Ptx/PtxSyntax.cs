namespace Vgg.Engine.Simulator.Ptx;

/// <summary>Kinds of instruction operand as written in PTX (PTX ISA §6.4 "Operand Types", §6.5 "Addresses as Operands").</summary>
internal enum OperandKind : byte
{
    /// <summary>A register or symbol name (register, special register, variable, label); resolved by the decoder.</summary>
    Name,
    /// <summary>An integer or floating-point constant.</summary>
    Immediate,
    /// <summary>A brace-enclosed vector {a, b, c, d}.</summary>
    Vector,
    /// <summary>A memory address [base+offset].</summary>
    Address,
    /// <summary>Two destinations written d|p (setp, shfl.sync).</summary>
    Pair,
    /// <summary>The sink "_" (result discarded).</summary>
    Sink,
}

/// <summary>How an immediate was written: an integer, a 0f single-precision bit pattern, a 0d double bit pattern, or a decimal float (double).</summary>
internal enum ImmediateKind : byte { Integer, F32Bits, F64Bits, DecimalFloat }

/// <summary>One parsed operand. Plain data; the decoder gives it meaning.</summary>
internal sealed class Operand
{
    public OperandKind Kind;

    /// <summary>Name (Name kind; base of an Address; first of a Pair).</summary>
    public string? Name;

    /// <summary>Second name of a Pair (the predicate of d|p).</summary>
    public string? Name2;

    /// <summary>"!%p": logical negation of a predicate operand.</summary>
    public bool Negated;

    public ImmediateKind ImmKind;

    /// <summary>Integer value (two's complement) or the bit pattern of a 0f/0d literal; for DecimalFloat the double's bits.</summary>
    public ulong ImmBits;

    /// <summary>Elements of a Vector.</summary>
    public Operand[]? Elements;

    /// <summary>Address offset in bytes (Address kind), or symbol offset for name+imm operands.</summary>
    public long Offset;

    public override string ToString() => Kind switch
    {
        OperandKind.Name => (Negated ? "!" : "") + Name + (Offset != 0 ? (Offset > 0 ? "+" : "") + Offset : ""),
        OperandKind.Immediate => ImmKind switch
        {
            ImmediateKind.F32Bits => $"0f{ImmBits:X8}",
            ImmediateKind.F64Bits => $"0d{ImmBits:X16}",
            ImmediateKind.DecimalFloat => BitConverter.UInt64BitsToDouble(ImmBits).ToString(System.Globalization.CultureInfo.InvariantCulture),
            _ => ((long)ImmBits).ToString(System.Globalization.CultureInfo.InvariantCulture),
        },
        OperandKind.Vector => "{" + string.Join(", ", Elements!.Select(e => e.ToString())) + "}",
        OperandKind.Address => "[" + (Name ?? "") + (Name is null ? Offset.ToString(System.Globalization.CultureInfo.InvariantCulture) : Offset != 0 ? (Offset > 0 ? "+" : "") + Offset : "") + "]",
        OperandKind.Pair => Name + "|" + Name2,
        OperandKind.Sink => "_",
        _ => "?",
    };
}

/// <summary>Item kinds of a function body, in order.</summary>
internal enum BodyItemKind : byte { Instruction, Label, ScopeOpen, ScopeClose, RegDecl, VarDecl }

/// <summary>One item of a function body: an instruction, a label, a scope brace or a declaration.</summary>
internal sealed class BodyItem
{
    public BodyItemKind Kind;
    public int Line;

    // Instruction
    public string? GuardName;
    public bool GuardNegated;
    /// <summary>The opcode with its modifiers as written, e.g. "ld.global.nc.v4.f32".</summary>
    public string Opcode = "";
    /// <summary><see cref="Opcode"/> split at '.': ["ld","global","nc","v4","f32"].</summary>
    public string[] Parts = [];
    public Operand[] Operands = [];
    /// <summary>The instruction as it reads in the PTX text (for error messages).</summary>
    public string Text = "";

    // Label
    public string? LabelName;

    // RegDecl: names (expanded) with their type
    public string? RegType;
    public List<string>? RegNames;

    // VarDecl (.shared/.local inside a body)
    public VariableDecl? Variable;
}

/// <summary>A state-space variable (.global, .const, .shared, .local) at module or function scope.</summary>
internal sealed class VariableDecl
{
    public required string Name;
    public required string Space;       // "global", "const", "shared", "local"
    public required string ElemType;     // "b8", "f32", ...
    public int ElemSize;
    public int Align;
    public int VectorWidth = 1;
    /// <summary>Total element count (product of array dimensions); −1 for an unsized extern array (dynamic shared memory).</summary>
    public long Count;
    public bool IsExtern;
    /// <summary>Initializer, bytes, for .global/.const with "= {...}".</summary>
    public byte[]? Init;
    public int Line;

    public long SizeBytes => Count < 0 ? 0 : Count * ElemSize * VectorWidth;
}

/// <summary>A kernel parameter (.param in an .entry).</summary>
internal sealed class ParamDecl
{
    public required string Name;
    public required string Type;   // "u64", "b8", ...
    public int ElemSize;
    public int Align;
    public long Count = 1;         // array length for .b8 name[N]
    public long SizeBytes => ElemSize * Count;
}

/// <summary>A parsed .entry or .func.</summary>
internal sealed class FunctionDecl
{
    public required string Name;
    public bool IsEntry;
    public int Line;
    public List<ParamDecl> Params = [];
    public List<BodyItem> Body = [];
    public bool HasBody;
    /// <summary>.maxntid / .reqntid (x, y, z) when given.</summary>
    public (int X, int Y, int Z)? MaxNtid;
    public (int X, int Y, int Z)? ReqNtid;
}
