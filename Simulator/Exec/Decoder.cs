using System.Globalization;
using Vgg.Engine.Simulator.Numerics;
using Vgg.Engine.Simulator.Ptx;

namespace Vgg.Engine.Simulator.Exec;

/// <summary>A named address: a variable's offset in its state space (shared, local, param) or its global address.</summary>
internal readonly record struct Symbol(Space Space, long Value);

/// <summary>
/// Turns a parsed .entry into <see cref="KernelCode"/>: resolves register names through nested scopes,
/// gives every immediate, symbol address and special register a constant register, lays out shared,
/// local and parameter memory, resolves branch labels, and picks a handler for every instruction. Any
/// instruction or form it does not implement raises <see cref="PtxUnsupportedInstructionException"/>.
/// </summary>
internal sealed unsafe class Decoder
{
    private readonly PtxModule _module;
    private readonly FunctionDecl _fn;
    private readonly List<Instr> _code = [];
    private readonly List<string> _text = [];
    private readonly List<int> _lines = [];
    private readonly List<int> _regBits = [];
    private readonly List<Dictionary<string, int>> _scopes = [];
    private readonly Dictionary<ulong, int> _consts = [];
    private readonly Dictionary<SReg, int> _specials = [];
    private readonly Dictionary<string, Symbol> _symbols = new(StringComparer.Ordinal);
    private readonly Dictionary<(int Scope, string Name), int> _labels = [];
    private readonly List<int> _scopeParent = [];
    private int _sink = -1;
    private int _declared;
    private BodyItem _item = null!;
    private int _itemScope;

    private Decoder(PtxModule module, FunctionDecl fn)
    {
        _module = module;
        _fn = fn;
    }

    public static KernelCode Decode(PtxModule module, FunctionDecl fn)
    {
        var d = new Decoder(module, fn);
        return d.Run();
    }

    private PtxUnsupportedInstructionException Unsupported(string detail)
        => new(_fn.Name, _item.Line, _item.Opcode, detail);

    private KernelCode Run()
    {
        // Parameters.
        var slots = new List<ParamSlot>();
        int poff = 0;
        foreach (var p in _fn.Params)
        {
            int align = Math.Max(1, p.Align);
            poff = (poff + align - 1) / align * align;
            slots.Add(new ParamSlot(p.Name, poff, (int)p.SizeBytes, align));
            _symbols[p.Name] = new Symbol(Space.Param, poff);
            poff += (int)p.SizeBytes;
        }

        // Module-scope variables (.global/.const at fixed addresses; .shared laid out below).
        foreach (var (name, addr) in _module.GlobalAddresses) _symbols[name] = new Symbol(Space.Global, (long)addr);

        // Shared and local layout: static variables in declaration order, then dynamic shared.
        int shared = 0, local = 0, dynAlign = 16;
        var externShared = new List<VariableDecl>();
        void Place(VariableDecl v)
        {
            if (v.Space == "shared")
            {
                if (v.IsExtern || v.Count < 0) { externShared.Add(v); dynAlign = Math.Max(dynAlign, v.Align); return; }
                shared = Align(shared, v.Align);
                _symbols[v.Name] = new Symbol(Space.Shared, shared);
                shared += (int)v.SizeBytes;
            }
            else if (v.Space == "local")
            {
                local = Align(local, v.Align);
                _symbols[v.Name] = new Symbol(Space.Local, local);
                local += (int)v.SizeBytes;
            }
        }
        foreach (var v in _module.Parser.Globals) if (v.Space == "shared") Place(v);
        foreach (var item in _fn.Body)
        {
            if (item.Kind != BodyItemKind.VarDecl) continue;
            var v = item.Variable!;
            if (v.Space is "shared" or "local") Place(v);
            else if (v.Space == "param") continue; // argument buffers of a call sequence; the call is rejected
            else throw new PtxUnsupportedInstructionException(_fn.Name, v.Line, "." + v.Space, "function-scope .global/.const variables are not supported");
        }
        int dynOffset = Align(shared, dynAlign);
        foreach (var v in externShared) _symbols[v.Name] = new Symbol(Space.Shared, dynOffset);

        // First pass: scopes and labels.
        var itemScopes = new int[_fn.Body.Count];
        {
            _scopeParent.Add(-1);
            var stack = new Stack<int>();
            stack.Push(0);
            int n = 0;
            for (int k = 0; k < _fn.Body.Count; k++)
            {
                var item = _fn.Body[k];
                switch (item.Kind)
                {
                    case BodyItemKind.ScopeOpen:
                        _scopeParent.Add(stack.Peek());
                        stack.Push(_scopeParent.Count - 1);
                        break;
                    case BodyItemKind.ScopeClose:
                        stack.Pop();
                        break;
                    case BodyItemKind.Label:
                        if (!_labels.TryAdd((stack.Peek(), item.LabelName!), n))
                            throw new PtxParseException(_module.Name, item.Line, $"label {item.LabelName} defined twice in one scope");
                        break;
                    case BodyItemKind.Instruction:
                        n++;
                        break;
                }
                itemScopes[k] = stack.Peek();
            }
        }

        // A call sequence is reported as such, before its .param stores are.
        var call = _fn.Body.FirstOrDefault(b => b.Kind == BodyItemKind.Instruction && b.Parts[0] == "call");
        if (call is not null)
        {
            _item = call;
            throw CallError();
        }

        // Second pass: registers and instructions.
        _scopes.Add(new Dictionary<string, int>(StringComparer.Ordinal));
        for (int k = 0; k < _fn.Body.Count; k++)
        {
            var item = _fn.Body[k];
            switch (item.Kind)
            {
                case BodyItemKind.ScopeOpen:
                    _scopes.Add(new Dictionary<string, int>(StringComparer.Ordinal));
                    break;
                case BodyItemKind.ScopeClose:
                    _scopes.RemoveAt(_scopes.Count - 1);
                    break;
                case BodyItemKind.RegDecl:
                {
                    int bits = PTypes.Bits(PTypes.Parse(item.RegType!));
                    if (item.RegType == "pred") bits = 1;
                    foreach (var name in item.RegNames!)
                    {
                        int r = NewReg(bits);
                        _declared++;
                        _scopes[^1][name] = r;
                    }
                    break;
                }
                case BodyItemKind.Instruction:
                    _item = item;
                    _itemScope = itemScopes[k];
                    var ins = DecodeOne();
                    ins.Index = _code.Count;
                    _code.Add(ins);
                    _text.Add(item.Text);
                    _lines.Add(item.Line);
                    break;
            }
        }
        if (_code.Count == 0 || _code[^1].Flow is not (Flow.Exit or Flow.Branch or Flow.Trap))
        {
            // Falling off the end of an entry is an implicit return.
            _code.Add(new Instr { Flow = Flow.Exit, Guard = -1, D = -1, D2 = -1, Class = OpClass.Control, Index = _code.Count });
            _text.Add("(end of kernel)");
            _lines.Add(_fn.Body.Count > 0 ? _fn.Body[^1].Line : _fn.Line);
        }

        return new KernelCode
        {
            Name = _fn.Name,
            Code = [.. _code],
            Text = [.. _text],
            Lines = [.. _lines],
            RegCount = _regBits.Count,
            DeclaredRegisters = _declared,
            ConstRegs = [.. _consts.Values],
            ConstValues = [.. _consts.Keys],
            Specials = [.. _specials.Select(kv => (kv.Value, kv.Key))],
            StaticSharedBytes = shared,
            DynamicSharedOffset = dynOffset,
            LocalBytes = local,
            Params = [.. slots],
            ParamBytes = poff,
            MaxNtid = _fn.MaxNtid,
            ReqNtid = _fn.ReqNtid,
            Module = _module,
        };
    }

    private static int Align(int v, int a) => a <= 1 ? v : (v + a - 1) / a * a;

    private int NewReg(int bits)
    {
        _regBits.Add(bits);
        return _regBits.Count - 1;
    }

    // ------------------------------------------------------------------ operands

    private int Const(ulong value)
    {
        if (_consts.TryGetValue(value, out int r)) return r;
        r = NewReg(64);
        _consts[value] = r;
        return r;
    }

    private int Zero => Const(0);

    private int Sink => _sink >= 0 ? _sink : _sink = NewReg(64);

    private static SReg? SpecialOf(string name) => name switch
    {
        "%tid.x" => SReg.TidX, "%tid.y" => SReg.TidY, "%tid.z" => SReg.TidZ,
        "%ntid.x" => SReg.NtidX, "%ntid.y" => SReg.NtidY, "%ntid.z" => SReg.NtidZ,
        "%ctaid.x" => SReg.CtaidX, "%ctaid.y" => SReg.CtaidY, "%ctaid.z" => SReg.CtaidZ,
        "%nctaid.x" => SReg.NctaidX, "%nctaid.y" => SReg.NctaidY, "%nctaid.z" => SReg.NctaidZ,
        "%laneid" => SReg.LaneId, "%warpid" => SReg.WarpId, "%nwarpid" => SReg.NWarpId,
        "%smid" => SReg.SmId, "%nsmid" => SReg.NSmId, "%gridid" => SReg.GridId,
        "%lanemask_eq" => SReg.LanemaskEq, "%lanemask_le" => SReg.LanemaskLe, "%lanemask_lt" => SReg.LanemaskLt,
        "%lanemask_ge" => SReg.LanemaskGe, "%lanemask_gt" => SReg.LanemaskGt,
        "%dynamic_smem_size" => SReg.DynamicSmemSize, "%total_smem_size" => SReg.TotalSmemSize,
        _ => null,
    };

    private static bool IsClock(string name) => name is "%clock" or "%clock64" or "%clock_hi" or "%globaltimer" or "%globaltimer_lo" or "%globaltimer_hi";

    private bool TryLookupReg(string name, out int reg)
    {
        for (int s = _scopes.Count - 1; s >= 0; s--)
            if (_scopes[s].TryGetValue(name, out reg)) return true;
        reg = -1;
        return false;
    }

    /// <summary>A source operand as a register index: a register, special register, symbol address or immediate (converted to <paramref name="type"/>).</summary>
    private int Src(Operand op, PType type)
    {
        switch (op.Kind)
        {
            case OperandKind.Name:
            {
                if (op.Negated) throw Unsupported($"'!{op.Name}' is not allowed for this operand");
                if (TryLookupReg(op.Name!, out int r))
                {
                    if (op.Offset != 0) throw Unsupported($"register operand with an offset: {op}");
                    return r;
                }
                if (SpecialOf(op.Name!) is { } sr)
                {
                    if (!_specials.TryGetValue(sr, out int s)) { s = NewReg(32); _specials[sr] = s; }
                    return s;
                }
                if (_symbols.TryGetValue(op.Name!, out var sym)) return Const((ulong)(sym.Value + op.Offset));
                if (IsClock(op.Name!)) throw Unsupported($"{op.Name} is only supported as the source of mov");
                throw new PtxParseException(_module.Name, _item.Line, $"unknown name '{op.Name}' in `{_item.Text}` of kernel {_fn.Name}");
            }
            case OperandKind.Immediate:
                return Const(ImmBits(op, type));
            default:
                throw Unsupported($"operand {op} is not a register or constant here");
        }
    }

    /// <summary>A predicate source, possibly negated (returns the register; <paramref name="negated"/> says '!').</summary>
    private int PredSrc(Operand op, out bool negated)
    {
        negated = op.Negated;
        if (op.Kind == OperandKind.Immediate) return Const(op.ImmBits != 0 ? 1UL : 0UL);
        var copy = new Operand { Kind = OperandKind.Name, Name = op.Name, Offset = op.Offset };
        return Src(copy, PType.Pred);
    }

    private int Dst(Operand op)
    {
        switch (op.Kind)
        {
            case OperandKind.Sink: return Sink;
            case OperandKind.Name:
                if (TryLookupReg(op.Name!, out int r)) return r;
                throw new PtxParseException(_module.Name, _item.Line, $"'{op.Name}' is not a declared register in `{_item.Text}` of kernel {_fn.Name}");
            default:
                throw Unsupported($"destination {op} must be a register");
        }
    }

    private int Bits(int reg) => _regBits[reg];

    /// <summary>The bit pattern of an immediate as an operand of <paramref name="type"/> (PTX ISA §4.5: 0f/0d literals are bit patterns, decimal floats are converted).</summary>
    private static ulong ImmBits(Operand op, PType type)
    {
        ulong v = op.ImmBits;
        switch (type)
        {
            case PType.F32:
                return op.ImmKind switch
                {
                    ImmediateKind.Integer => BitConverter.SingleToUInt32Bits((long)v),
                    ImmediateKind.F32Bits => v & 0xFFFFFFFF,
                    _ => BitConverter.SingleToUInt32Bits((float)BitConverter.UInt64BitsToDouble(v)),
                };
            case PType.F64:
                return op.ImmKind switch
                {
                    ImmediateKind.Integer => BitConverter.DoubleToUInt64Bits((long)v),
                    ImmediateKind.F32Bits => BitConverter.DoubleToUInt64Bits(BitConverter.UInt32BitsToSingle((uint)v)),
                    _ => v,
                };
            case PType.F16:
            case PType.BF16:
                return op.ImmKind switch
                {
                    ImmediateKind.Integer => v & 0xFFFF,
                    ImmediateKind.F32Bits => (type == PType.F16 ? FloatFormat.Half : FloatFormat.BFloat16).FromDouble(BitConverter.UInt32BitsToSingle((uint)v), Rnd.Rn),
                    _ => (type == PType.F16 ? FloatFormat.Half : FloatFormat.BFloat16).FromDouble(BitConverter.UInt64BitsToDouble(v), Rnd.Rn),
                };
            case PType.Pred:
                return v != 0 ? 1UL : 0UL;
            default:
            {
                int bits = PTypes.Bits(type);
                if (bits == 0) bits = 64;
                ulong raw = op.ImmKind == ImmediateKind.DecimalFloat ? (ulong)(long)BitConverter.UInt64BitsToDouble(v) : v;
                return raw & PTypes.Mask(bits);
            }
        }
    }

    /// <summary>An address operand: base register (a constant for symbols and absolute addresses) and byte offset.</summary>
    private (int Reg, long Off, Symbol? Sym) Addr(Operand op)
    {
        if (op.Kind != OperandKind.Address) throw Unsupported($"expected an address [..] but found {op}");
        if (op.Name is null) return (Zero, op.Offset, null);
        if (TryLookupReg(op.Name, out int r)) return (r, op.Offset, null);
        if (_symbols.TryGetValue(op.Name, out var sym)) return (Zero, sym.Value + op.Offset, sym);
        throw new PtxParseException(_module.Name, _item.Line, $"unknown name '{op.Name}' in address of `{_item.Text}` of kernel {_fn.Name}");
    }

    private int Label(Operand op)
    {
        if (op.Kind != OperandKind.Name) throw Unsupported($"branch target {op} must be a label");
        for (int s = _itemScope; s >= 0; s = _scopeParent[s])
            if (_labels.TryGetValue((s, op.Name!), out int idx)) return idx;
        throw new PtxParseException(_module.Name, _item.Line, $"unknown label '{op.Name}' in kernel {_fn.Name}");
    }

    // ------------------------------------------------------------------ modifiers

    private string[] Mods => _item.Parts;
    private bool Has(string m) => Array.IndexOf(_item.Parts, m, 1) >= 0;

    /// <summary>The last part that names a type.</summary>
    private PType LastType()
    {
        for (int k = Mods.Length - 1; k >= 1; k--)
        {
            var t = PTypes.Parse(Mods[k]);
            if (t != PType.None) return t;
        }
        throw Unsupported("no type given");
    }

    /// <summary>All parts that name a type, in order.</summary>
    private List<PType> Types()
    {
        var l = new List<PType>();
        for (int k = 1; k < Mods.Length; k++)
        {
            var t = PTypes.Parse(Mods[k]);
            if (t != PType.None) l.Add(t);
        }
        return l;
    }

    private (Rnd Mode, bool Given, bool Integer) Rounding()
    {
        foreach (var m in Mods.Skip(1))
        {
            switch (m)
            {
                case "rn": return (Rnd.Rn, true, false);
                case "rz": return (Rnd.Rz, true, false);
                case "rm": return (Rnd.Rm, true, false);
                case "rp": return (Rnd.Rp, true, false);
                case "rna": return (Rnd.Rna, true, false);
                case "rni": return (Rnd.Rn, true, true);
                case "rzi": return (Rnd.Rz, true, true);
                case "rmi": return (Rnd.Rm, true, true);
                case "rpi": return (Rnd.Rp, true, true);
            }
        }
        return (Rnd.Rn, false, false);
    }

    private void CheckMods(params string[] allowed)
    {
        for (int k = 1; k < Mods.Length; k++)
        {
            var m = Mods[k];
            if (PTypes.Parse(m) != PType.None) continue;
            if (Array.IndexOf(allowed, m) >= 0) continue;
            throw Unsupported($"modifier .{m} is not supported");
        }
    }

    private void ExpectOperands(int min, int max = -1)
    {
        int n = _item.Operands.Length;
        if (n < min || n > (max < 0 ? min : max))
            throw new PtxParseException(_module.Name, _item.Line, $"`{_item.Text}`: expected {(max < 0 || max == min ? min.ToString(CultureInfo.InvariantCulture) : $"{min} to {max}")} operands, found {n}");
    }

    private Operand Op(int k) => _item.Operands[k];

    private static int WidthOf(PType t) => PTypes.Bits(t);

    private static delegate*<Warp, ref Instr, uint, void> W<T16, T32, T64>(int bits)
        where T16 : struct, IOp2 where T32 : struct, IOp2 where T64 : struct, IOp2 => bits switch
        {
            16 => &Lanes.Op2<T16>,
            32 => &Lanes.Op2<T32>,
            _ => &Lanes.Op2<T64>,
        };

    private static delegate*<Warp, ref Instr, uint, void> W1<T16, T32, T64>(int bits)
        where T16 : struct, IOp1 where T32 : struct, IOp1 where T64 : struct, IOp1 => bits switch
        {
            16 => &Lanes.Op1<T16>,
            32 => &Lanes.Op1<T32>,
            _ => &Lanes.Op1<T64>,
        };

    private static delegate*<Warp, ref Instr, uint, void> W3<T16, T32, T64>(int bits)
        where T16 : struct, IOp3 where T32 : struct, IOp3 where T64 : struct, IOp3 => bits switch
        {
            16 => &Lanes.Op3<T16>,
            32 => &Lanes.Op3<T32>,
            _ => &Lanes.Op3<T64>,
        };

    // ------------------------------------------------------------------ instructions

    private Instr New(OpClass cls)
    {
        var i = new Instr { Guard = -1, D = -1, A = -1, B = -1, C = -1, D2 = -1, Aux3 = -1, Class = cls, Flow = Flow.Normal };
        if (_item.GuardName is not null)
        {
            i.Guard = Src(new Operand { Kind = OperandKind.Name, Name = _item.GuardName }, PType.Pred);
            i.GuardNeg = _item.GuardNegated;
        }
        return i;
    }

    private Instr DecodeOne()
    {
        string op = Mods[0];
        switch (op)
        {
            case "add": case "sub": case "mul": case "mad": case "fma": case "div": case "rem":
            case "abs": case "neg": case "min": case "max": case "mul24": case "mad24": case "sad":
            case "popc": case "clz": case "bfind": case "brev": case "bfe": case "bfi":
            case "rcp": case "sqrt": case "rsqrt": case "sin": case "cos": case "lg2": case "ex2": case "tanh":
            case "copysign": case "testp": case "dp4a": case "dp2a":
                return Arith(op);
            case "and": case "or": case "xor": case "not": case "cnot": case "shl": case "shr": case "shf": case "lop3":
                return Logic(op);
            case "prmt": return Prmt();
            case "setp": return Setp();
            case "set": return SetOp();
            case "selp": return Selp();
            case "slct": return Slct();
            case "mov": return Mov();
            case "cvt": return Cvt();
            case "cvta": return Cvta();
            case "ld": case "ldu": return Ld();
            case "st": return St();
            case "prefetch": case "prefetchu": case "fence": case "membar": case "nanosleep": case "pmevent": case "discard": case "applypriority":
            {
                var i = New(OpClass.Other);
                i.Fn = &MemOps.Nop;
                return i;
            }
            case "createpolicy":
            {
                var i = New(OpClass.Other);
                i.D = Dst(Op(0));
                i.A = Zero;
                i.DBits = 64;
                i.Fn = &Lanes.Op1<Mov>;
                return i;
            }
            case "atom": case "red": return Atom(op == "red");
            case "cp": return CpAsync();
            case "bra": return Bra();
            case "ret": case "exit":
            {
                var i = New(OpClass.Control);
                i.Flow = Flow.Exit;
                return i;
            }
            case "trap":
            {
                var i = New(OpClass.Control);
                i.Flow = Flow.Trap;
                return i;
            }
            case "bar": case "barrier": return Bar();
            case "shfl": return Shfl();
            case "vote": return Vote();
            case "activemask":
            {
                var i = New(OpClass.WarpVote);
                i.D = Dst(Op(0));
                i.Fn = &MoveOps.ActiveMask;
                return i;
            }
            case "redux": return Redux();
            case "match": return MatchOp();
            case "mma": return Mma();
            case "call": throw CallError();
            case "ldmatrix": return LdMatrix();
            default:
                throw Unsupported("");
        }
    }

    private Instr Arith(string op)
    {
        var t = LastType();
        bool isFloat = PTypes.IsFloat(t);
        if (t is PType.F16 or PType.F16x2 or PType.BF16 or PType.BF16x2) return HalfArith(op, t);
        if (isFloat) return FloatArith(op, t);
        var i = New(OpClass.Integer);
        i.Type = t;
        int bits = WidthOf(t);
        bool signed = PTypes.IsSigned(t);
        bool hi = Has("hi"), wide = Has("wide");
        int nsrc;
        switch (op)
        {
            case "add":
            case "sub":
                CheckMods("sat", "cc");
                if (Has("cc")) throw Unsupported("carry (.cc) forms are not supported");
                if (Has("sat"))
                {
                    if (t != PType.S32) throw Unsupported(".sat needs .s32");
                    i.Fn = &Lanes.Op2<AddSatS32>;
                    i.Aux = op == "sub" ? 1 : 0;
                }
                else i.Fn = op == "add" ? W<AddI<W16>, AddI<W32>, AddI<W64>>(bits) : W<SubI<W16>, SubI<W32>, SubI<W64>>(bits);
                nsrc = 2;
                break;
            case "mul":
                CheckMods("lo", "hi", "wide");
                if (wide)
                {
                    if (bits == 64) throw Unsupported("mul.wide of 64-bit operands");
                    i.Fn = signed ? (bits == 16 ? &Lanes.Op2<MulWideS<W16>> : &Lanes.Op2<MulWideS<W32>>) : (bits == 16 ? &Lanes.Op2<MulWideU<W16>> : &Lanes.Op2<MulWideU<W32>>);
                }
                else if (hi) i.Fn = signed ? W<MulHiS<W16>, MulHiS<W32>, MulHiS<W64>>(bits) : W<MulHiU<W16>, MulHiU<W32>, MulHiU<W64>>(bits);
                else i.Fn = W<MulLo<W16>, MulLo<W32>, MulLo<W64>>(bits);
                nsrc = 2;
                break;
            case "mad":
                CheckMods("lo", "hi", "wide", "sat");
                if (Has("sat")) throw Unsupported("mad.hi.sat is not supported");
                if (wide)
                {
                    if (bits == 64) throw Unsupported("mad.wide of 64-bit operands");
                    i.Fn = signed ? (bits == 16 ? &Lanes.Op3<MadWideS<W16>> : &Lanes.Op3<MadWideS<W32>>) : (bits == 16 ? &Lanes.Op3<MadWideU<W16>> : &Lanes.Op3<MadWideU<W32>>);
                }
                else if (hi) i.Fn = signed ? W3<MadHiS<W16>, MadHiS<W32>, MadHiS<W64>>(bits) : W3<MadHiU<W16>, MadHiU<W32>, MadHiU<W64>>(bits);
                else i.Fn = W3<MadLo<W16>, MadLo<W32>, MadLo<W64>>(bits);
                nsrc = 3;
                break;
            case "mul24":
            case "mad24":
                CheckMods("lo", "hi");
                if (bits != 32) throw Unsupported("24-bit multiply needs a 32-bit type");
                i.Fn = &Lanes.Op3<Mul24>;
                i.Aux = hi ? 1 : 0;
                i.Aux2 = signed ? 1 : 0;
                nsrc = op == "mad24" ? 3 : 2;
                break;
            case "sad":
                CheckMods();
                i.Fn = signed ? W3<SadS<W16>, SadS<W32>, SadS<W64>>(bits) : W3<SadU<W16>, SadU<W32>, SadU<W64>>(bits);
                nsrc = 3;
                break;
            case "div":
                CheckMods();
                i.Fn = signed ? W<DivS<W16>, DivS<W32>, DivS<W64>>(bits) : W<DivU<W16>, DivU<W32>, DivU<W64>>(bits);
                nsrc = 2;
                break;
            case "rem":
                CheckMods();
                i.Fn = signed ? W<RemS<W16>, RemS<W32>, RemS<W64>>(bits) : W<RemU<W16>, RemU<W32>, RemU<W64>>(bits);
                nsrc = 2;
                break;
            case "abs":
                CheckMods();
                i.Fn = W1<AbsI<W16>, AbsI<W32>, AbsI<W64>>(bits);
                nsrc = 1;
                break;
            case "neg":
                CheckMods();
                i.Fn = W1<NegI<W16>, NegI<W32>, NegI<W64>>(bits);
                nsrc = 1;
                break;
            case "min":
            case "max":
                CheckMods("relu");
                if (Has("relu"))
                {
                    if (t != PType.S32) throw Unsupported(".relu needs .s32");
                    i.Fn = &Lanes.Op2<MinMaxReluS32>;
                    i.Aux = op == "max" ? 1 : 0;
                }
                else if (op == "min") i.Fn = signed ? W<MinS<W16>, MinS<W32>, MinS<W64>>(bits) : W<MinU<W16>, MinU<W32>, MinU<W64>>(bits);
                else i.Fn = signed ? W<MaxS<W16>, MaxS<W32>, MaxS<W64>>(bits) : W<MaxU<W16>, MaxU<W32>, MaxU<W64>>(bits);
                nsrc = 2;
                break;
            case "popc":
                CheckMods();
                i.Fn = bits == 64 ? &Lanes.Op1<Popc<W64>> : &Lanes.Op1<Popc<W32>>;
                nsrc = 1;
                break;
            case "clz":
                CheckMods();
                i.Fn = bits == 64 ? &Lanes.Op1<Clz<W64>> : &Lanes.Op1<Clz<W32>>;
                nsrc = 1;
                break;
            case "bfind":
                CheckMods("shiftamt");
                i.Aux = Has("shiftamt") ? 1 : 0;
                i.Fn = signed ? (bits == 64 ? &Lanes.Op1<BfindS<W64>> : &Lanes.Op1<BfindS<W32>>) : (bits == 64 ? &Lanes.Op1<BfindU<W64>> : &Lanes.Op1<BfindU<W32>>);
                nsrc = 1;
                break;
            case "brev":
                CheckMods();
                i.Fn = bits == 64 ? &Lanes.Op1<Brev<W64>> : &Lanes.Op1<Brev<W32>>;
                nsrc = 1;
                break;
            case "bfe":
            {
                CheckMods();
                ExpectOperands(4);
                i.Aux = signed ? 1 : 0;
                i.Fn = bits == 64 ? &Lanes.Op3<Bfe<W64>> : &Lanes.Op3<Bfe<W32>>;
                i.D = Dst(Op(0));
                i.A = Src(Op(1), t);
                i.B = Src(Op(2), PType.U32);
                i.C = Src(Op(3), PType.U32);
                i.DBits = Bits(i.D);
                return i;
            }
            case "bfi":
            {
                CheckMods();
                ExpectOperands(5);
                i.Fn = bits == 64 ? &IntOps.Bfi<W64> : &IntOps.Bfi<W32>;
                i.D = Dst(Op(0));
                i.A = Src(Op(1), t);
                i.B = Src(Op(2), t);
                i.C = Src(Op(3), PType.U32);
                i.D2 = Src(Op(4), PType.U32);
                return i;
            }
            case "dp4a":
            case "dp2a":
            {
                CheckMods("lo", "hi");
                var ts = Types();
                if (ts.Count != 2) throw Unsupported("expected .atype.btype");
                i.Aux = PTypes.IsSigned(ts[0]) ? 1 : 0;
                i.Aux2 = PTypes.IsSigned(ts[1]) ? 1 : 0;
                i.Aux3 = Has("hi") ? 1 : 0;
                i.Fn = op == "dp4a" ? &Lanes.Op3<Dp4a> : &Lanes.Op3<Dp2a>;
                ExpectOperands(4);
                i.D = Dst(Op(0));
                i.A = Src(Op(1), PType.B32);
                i.B = Src(Op(2), PType.B32);
                i.C = Src(Op(3), ts[0] == PType.S32 || ts[1] == PType.S32 ? PType.S32 : PType.U32);
                return i;
            }
            default:
                throw Unsupported($"integer type .{Mods[^1]}");
        }
        ExpectOperands(nsrc + 1);
        i.D = Dst(Op(0));
        PType srcType = t;
        i.A = Src(Op(1), srcType);
        if (nsrc >= 2) i.B = Src(Op(2), srcType);
        if (nsrc >= 3) i.C = Src(Op(3), wide ? (signed ? (bits == 16 ? PType.S32 : PType.S64) : (bits == 16 ? PType.U32 : PType.U64)) : srcType);
        i.DBits = Bits(i.D);
        return i;
    }

    private Instr FloatArith(string op, PType t)
    {
        bool f64 = t == PType.F64;
        if (t is not (PType.F32 or PType.F64)) throw Unsupported($"type .{t.ToString().ToLowerInvariant()}");
        var i = New(f64 ? OpClass.Float64 : OpClass.Float32);
        i.Type = t;
        var (rnd, given, _) = Rounding();
        i.Rnd = rnd;
        i.Ftz = Has("ftz");
        i.Sat = Has("sat");
        bool approx = Has("approx"), full = Has("full");
        int nsrc;
        switch (op)
        {
            case "add":
            case "sub":
            case "mul":
                CheckMods("rn", "rz", "rm", "rp", "ftz", "sat");
                if (f64)
                {
                    i.Fn = op == "add" ? &Lanes.Op2<AddF64> : op == "sub" ? &Lanes.Op2<SubF64> : &Lanes.Op2<MulF64>;
                }
                else if (!i.Ftz && !i.Sat && rnd == Rnd.Rn)
                    i.Fn = op == "add" ? &Lanes.Op2<AddF32Rn> : op == "sub" ? &Lanes.Op2<SubF32Rn> : &Lanes.Op2<MulF32Rn>;
                else i.Fn = op == "add" ? &Lanes.Op2<AddF32> : op == "sub" ? &Lanes.Op2<SubF32> : &Lanes.Op2<MulF32>;
                nsrc = 2;
                break;
            case "fma":
            case "mad":
                CheckMods("rn", "rz", "rm", "rp", "ftz", "sat");
                if (f64)
                {
                    if (rnd != Rnd.Rn) throw Unsupported("directed rounding of fma.f64");
                    i.Fn = &Lanes.Op3<FmaF64>;
                }
                else i.Fn = !i.Ftz && !i.Sat && rnd == Rnd.Rn ? &Lanes.Op3<FmaF32Rn> : &Lanes.Op3<FmaF32>;
                nsrc = 3;
                break;
            case "div":
                CheckMods("rn", "rz", "rm", "rp", "ftz", "approx", "full");
                if (f64)
                {
                    if (rnd != Rnd.Rn) throw Unsupported("directed rounding of div.f64");
                    i.Fn = &Lanes.Op2<DivF64>;
                }
                else
                {
                    i.Aux = approx || full ? 1 : 0;
                    i.Fn = &Lanes.Op2<DivF32>;
                }
                nsrc = 2;
                break;
            case "rcp":
            case "sqrt":
                CheckMods("rn", "rz", "rm", "rp", "ftz", "approx");
                if (f64)
                {
                    if (rnd != Rnd.Rn && !approx) throw Unsupported($"directed rounding of {op}.f64");
                    i.Fn = op == "rcp" ? &Lanes.Op1<RcpF64> : &Lanes.Op1<SqrtF64>;
                }
                else
                {
                    i.Aux = approx ? 1 : 0;
                    i.Fn = op == "rcp" ? &Lanes.Op1<RcpF32> : &Lanes.Op1<SqrtF32>;
                }
                nsrc = 1;
                break;
            case "rsqrt":
                CheckMods("approx", "ftz");
                i.Fn = f64 ? &Lanes.Op1<RsqrtF64> : &Lanes.Op1<RsqrtF32>;
                nsrc = 1;
                break;
            case "sin": case "cos": case "lg2": case "ex2": case "tanh":
                CheckMods("approx", "ftz");
                if (f64) throw Unsupported($"{op}.f64");
                i.Fn = op switch
                {
                    "sin" => &Lanes.Op1<SinF32>,
                    "cos" => &Lanes.Op1<CosF32>,
                    "lg2" => &Lanes.Op1<Lg2F32>,
                    "ex2" => &Lanes.Op1<Ex2F32>,
                    _ => &Lanes.Op1<TanhF32>,
                };
                nsrc = 1;
                break;
            case "abs":
            case "neg":
                CheckMods("ftz");
                i.Fn = f64 ? (op == "abs" ? &Lanes.Op1<AbsF64> : &Lanes.Op1<NegF64>) : (op == "abs" ? &Lanes.Op1<AbsF32> : &Lanes.Op1<NegF32>);
                nsrc = 1;
                break;
            case "min":
            case "max":
                CheckMods("ftz", "NaN", "xorsign", "abs");
                if (Has("xorsign") || Has("abs")) throw Unsupported(".xorsign.abs");
                i.Aux2 = Has("NaN") ? 1 : 0;
                i.Fn = f64 ? (op == "min" ? &Lanes.Op2<MinF64> : &Lanes.Op2<MaxF64>) : (op == "min" ? &Lanes.Op2<MinF32> : &Lanes.Op2<MaxF32>);
                nsrc = 2;
                break;
            case "copysign":
                CheckMods();
                i.Fn = f64 ? &Lanes.Op2<CopysignF64> : &Lanes.Op2<CopysignF32>;
                nsrc = 2;
                break;
            case "testp":
            {
                CheckMods("finite", "infinite", "number", "notanumber", "normal", "subnormal");
                i.Aux = Has("finite") ? 0 : Has("infinite") ? 1 : Has("number") ? 2 : Has("notanumber") ? 3 : Has("normal") ? 4 : 5;
                i.Fn = &Lanes.Op1<Testp>;
                i.Class = OpClass.Compare;
                nsrc = 1;
                break;
            }
            default:
                throw Unsupported($"floating-point type .{Mods[^1]}");
        }
        _ = given;
        ExpectOperands(nsrc + 1);
        i.D = Dst(Op(0));
        i.A = Src(Op(1), t);
        if (nsrc >= 2) i.B = Src(Op(2), t);
        if (nsrc >= 3) i.C = Src(Op(3), t);
        i.DBits = Bits(i.D);
        return i;
    }

    private Instr HalfArith(string op, PType t)
    {
        var i = New(OpClass.Half);
        i.Type = t;
        i.Size = t is PType.F16x2 or PType.BF16x2 ? 2 : 1;
        i.Aux2 = t is PType.BF16 or PType.BF16x2 ? 1 : 0;
        var (rnd, _, _) = Rounding();
        i.Rnd = rnd;
        i.Ftz = Has("ftz");
        i.Sat = Has("sat");
        PType st = i.Size == 2 ? PType.B32 : PType.B16;
        int nsrc;
        switch (op)
        {
            case "add":
            case "sub":
                CheckMods("rn", "rz", "rm", "rp", "ftz", "sat");
                i.Aux = op == "sub" ? 1 : 0;
                i.Fn = &Lanes.Op2<AddH>;
                nsrc = 2;
                break;
            case "mul":
                CheckMods("rn", "rz", "rm", "rp", "ftz", "sat");
                i.Fn = &Lanes.Op2<MulH>;
                nsrc = 2;
                break;
            case "fma":
                CheckMods("rn", "rz", "rm", "rp", "ftz", "sat", "relu", "oob");
                if (Has("oob")) throw Unsupported(".oob");
                i.Aux = Has("relu") ? 1 : 0;
                i.Fn = &Lanes.Op3<FmaH>;
                nsrc = 3;
                break;
            case "neg":
            case "abs":
                CheckMods("ftz");
                i.Aux = op == "abs" ? 1 : 0;
                i.Fn = &Lanes.Op1<NegAbsH>;
                nsrc = 1;
                break;
            case "min":
            case "max":
                CheckMods("ftz", "NaN");
                i.Aux = op == "max" ? 1 : 0;
                i.Aux3 = Has("NaN") ? 1 : 0;
                i.Fn = &Lanes.Op2<MinMaxH>;
                nsrc = 2;
                break;
            case "ex2":
            case "tanh":
                CheckMods("approx", "ftz");
                i.Aux = op == "tanh" ? 1 : 0;
                i.Fn = &Lanes.Op1<FuncH>;
                nsrc = 1;
                break;
            default:
                throw Unsupported($"half-precision type .{Mods[^1]}");
        }
        ExpectOperands(nsrc + 1);
        i.D = Dst(Op(0));
        i.A = Src(Op(1), st);
        if (nsrc >= 2) i.B = Src(Op(2), st);
        if (nsrc >= 3) i.C = Src(Op(3), st);
        i.DBits = Bits(i.D);
        return i;
    }

    private Instr Logic(string op)
    {
        var t = LastType();
        var i = New(OpClass.Logic);
        i.Type = t;
        int bits = t == PType.Pred ? 1 : WidthOf(t);
        switch (op)
        {
            case "and":
            case "or":
            case "xor":
                CheckMods();
                ExpectOperands(3);
                i.Fn = op == "and" ? &Lanes.Op2<And> : op == "or" ? &Lanes.Op2<Or> : &Lanes.Op2<Xor>;
                i.D = Dst(Op(0));
                i.A = Src(Op(1), t);
                i.B = Src(Op(2), t);
                break;
            case "not":
            case "cnot":
                CheckMods();
                ExpectOperands(2);
                if (t == PType.Pred) i.Fn = &Lanes.Op1<NotPred>;
                else if (op == "not") i.Fn = W1<Not<W16>, Not<W32>, Not<W64>>(bits);
                else i.Fn = W1<Cnot<W16>, Cnot<W32>, Cnot<W64>>(bits);
                i.D = Dst(Op(0));
                i.A = Src(Op(1), t);
                break;
            case "shl":
            case "shr":
                CheckMods();
                ExpectOperands(3);
                if (op == "shl") i.Fn = W<Shl<W16>, Shl<W32>, Shl<W64>>(bits);
                else i.Fn = PTypes.IsSigned(t) ? W<ShrS<W16>, ShrS<W32>, ShrS<W64>>(bits) : W<ShrU<W16>, ShrU<W32>, ShrU<W64>>(bits);
                i.D = Dst(Op(0));
                i.A = Src(Op(1), t);
                i.B = Src(Op(2), PType.U32);
                break;
            case "shf":
                CheckMods("l", "r", "wrap", "clamp");
                ExpectOperands(4);
                i.Aux = Has("r") ? 1 : 0;
                i.Aux2 = Has("clamp") ? 1 : 0;
                i.Fn = &Lanes.Op3<Shf>;
                i.D = Dst(Op(0));
                i.A = Src(Op(1), PType.B32);
                i.B = Src(Op(2), PType.B32);
                i.C = Src(Op(3), PType.U32);
                break;
            case "lop3":
                CheckMods();
                ExpectOperands(5);
                if (Op(4).Kind != OperandKind.Immediate) throw Unsupported("lop3 immLut must be a constant");
                i.Aux = (int)(Op(4).ImmBits & 0xFF);
                i.Fn = &Lanes.Op3<Lop3>;
                i.D = Dst(Op(0));
                i.A = Src(Op(1), PType.B32);
                i.B = Src(Op(2), PType.B32);
                i.C = Src(Op(3), PType.B32);
                break;
        }
        i.DBits = Bits(i.D);
        return i;
    }

    private Instr Prmt()
    {
        CheckMods("f4e", "b4e", "rc8", "ecl", "ecr", "rc16");
        ExpectOperands(4);
        var i = New(OpClass.Logic);
        i.Aux = Has("f4e") ? 1 : Has("b4e") ? 2 : Has("rc8") ? 3 : Has("ecl") ? 4 : Has("ecr") ? 5 : Has("rc16") ? 6 : 0;
        i.Fn = &Lanes.Op3<Prmt>;
        i.D = Dst(Op(0));
        i.A = Src(Op(1), PType.B32);
        i.B = Src(Op(2), PType.B32);
        i.C = Src(Op(3), PType.B32);
        return i;
    }

    private (int Cmp, int Bool) CompareMods(PType t)
    {
        string cmpName = Mods[1];
        int cmp = CompareOps.CmpMask(cmpName, PTypes.IsUnsigned(t));
        if (cmp < 0) throw Unsupported($"comparison .{cmpName}");
        int bop = 0;
        if (Mods.Length > 2) bop = Mods[2] switch { "and" => 1, "or" => 2, "xor" => 3, _ => 0 };
        return (cmp, bop);
    }

    private delegate*<Warp, ref Instr, uint, void> RelFn(PType t, string cmpName, bool setp)
    {
        bool unsignedCmp = cmpName is "lo" or "ls" or "hi" or "hs";
        int bits = WidthOf(t);
        if (setp)
        {
            switch (t)
            {
                case PType.F32: return &CompareOps.Setp<RelF32>;
                case PType.F64: return &CompareOps.Setp<RelF64>;
                case PType.F16: case PType.BF16: return &CompareOps.Setp<RelH>;
                case PType.F16x2: case PType.BF16x2: return &CompareOps.SetpH2;
            }
            if (PTypes.IsSigned(t) && !unsignedCmp)
                return bits switch { 16 => &CompareOps.Setp<RelS<W16>>, 32 => &CompareOps.Setp<RelS<W32>>, _ => &CompareOps.Setp<RelS<W64>> };
            return bits switch { 16 => &CompareOps.Setp<RelU<W16>>, 32 => &CompareOps.Setp<RelU<W32>>, _ => &CompareOps.Setp<RelU<W64>> };
        }
        switch (t)
        {
            case PType.F32: return &CompareOps.Set<RelF32>;
            case PType.F64: return &CompareOps.Set<RelF64>;
            case PType.F16: case PType.BF16: return &CompareOps.Set<RelH>;
        }
        if (PTypes.IsSigned(t) && !unsignedCmp)
            return bits switch { 16 => &CompareOps.Set<RelS<W16>>, 32 => &CompareOps.Set<RelS<W32>>, _ => &CompareOps.Set<RelS<W64>> };
        return bits switch { 16 => &CompareOps.Set<RelU<W16>>, 32 => &CompareOps.Set<RelU<W32>>, _ => &CompareOps.Set<RelU<W64>> };
    }

    private Instr Setp()
    {
        var t = LastType();
        var i = New(OpClass.Compare);
        i.Type = t;
        i.Ftz = Has("ftz");
        var (cmp, bop) = CompareMods(t);
        i.Aux = cmp;
        i.Aux2 = bop;
        i.Fn = RelFn(t, Mods[1], true);
        ExpectOperands(bop != 0 ? 4 : 3);
        var d = Op(0);
        if (d.Kind == OperandKind.Pair)
        {
            i.D = Dst(new Operand { Kind = OperandKind.Name, Name = d.Name });
            i.D2 = Dst(new Operand { Kind = OperandKind.Name, Name = d.Name2 });
        }
        else i.D = Dst(d);
        PType st = t is PType.F16x2 or PType.BF16x2 ? PType.B32 : t is PType.F16 or PType.BF16 ? PType.B16 : t;
        i.A = Src(Op(1), st);
        i.B = Src(Op(2), st);
        if (bop != 0)
        {
            i.C = PredSrc(Op(3), out bool neg);
            i.Aux3 = neg ? 1 : 0;
        }
        else i.Aux3 = 0;
        return i;
    }

    private Instr SetOp()
    {
        var ts = Types();
        if (ts.Count != 2) throw Unsupported("expected .dtype.stype");
        var i = New(OpClass.Compare);
        PType dt = ts[0], st = ts[1];
        if (dt is not (PType.U32 or PType.S32 or PType.F32 or PType.U16 or PType.S16)) throw Unsupported($"set destination type .{dt.ToString().ToLowerInvariant()}");
        if (st is PType.F16x2 or PType.BF16x2) throw Unsupported("set on .f16x2");
        i.Type = st;
        i.Type2 = dt;
        i.Ftz = Has("ftz");
        var (cmp, bop) = CompareMods(st);
        i.Aux = cmp;
        i.Aux2 = bop;
        i.Fn = RelFn(st, Mods[1], false);
        ExpectOperands(bop != 0 ? 4 : 3);
        i.D = Dst(Op(0));
        PType srcT = st is PType.F16 or PType.BF16 ? PType.B16 : st;
        i.A = Src(Op(1), srcT);
        i.B = Src(Op(2), srcT);
        if (bop != 0)
        {
            i.C = PredSrc(Op(3), out bool neg);
            i.Aux3 = neg ? 1 : 0;
        }
        else i.Aux3 = 0;
        return i;
    }

    private Instr Selp()
    {
        var t = LastType();
        ExpectOperands(4);
        var i = New(OpClass.Compare);
        i.Type = t;
        i.D = Dst(Op(0));
        i.A = Src(Op(1), t);
        i.B = Src(Op(2), t);
        i.C = PredSrc(Op(3), out bool neg);
        if (neg) throw Unsupported("negated selp predicate");
        i.Fn = &CompareOps.Selp;
        return i;
    }

    private Instr Slct()
    {
        var ts = Types();
        if (ts.Count != 2) throw Unsupported("expected .dtype.ctype");
        ExpectOperands(4);
        var i = New(OpClass.Compare);
        i.Type = ts[0];
        i.Ftz = Has("ftz");
        i.Aux = ts[1] == PType.F32 ? 1 : 0;
        i.D = Dst(Op(0));
        i.A = Src(Op(1), ts[0]);
        i.B = Src(Op(2), ts[0]);
        i.C = Src(Op(3), ts[1]);
        i.Fn = &CompareOps.Slct;
        return i;
    }

    private Instr Mov()
    {
        var t = LastType();
        ExpectOperands(2);
        var i = New(OpClass.Move);
        i.Type = t;
        var d = Op(0);
        var s = Op(1);
        if (d.Kind == OperandKind.Vector)
        {
            i.V = d.Elements!.Select(Dst).ToArray();
            i.A = Src(s, t);
            i.Size = WidthOf(t) / i.V.Length;
            i.Fn = &MoveOps.Unpack;
            return i;
        }
        i.D = Dst(d);
        i.DBits = t == PType.Pred ? 1 : Math.Max(Bits(i.D), 1);
        if (s.Kind == OperandKind.Vector)
        {
            i.V = s.Elements!.Select(e => Src(e, PType.None)).ToArray();
            i.Size = WidthOf(t) / i.V.Length;
            i.Fn = &MoveOps.Pack;
            return i;
        }
        if (s.Kind == OperandKind.Name && IsClock(s.Name!))
        {
            i.Fn = &MoveOps.Clock;
            return i;
        }
        i.A = Src(s, t);
        i.Fn = &Lanes.Op1<Mov>;
        return i;
    }

    private Instr Cvt()
    {
        var ts = Types();
        var i = New(OpClass.Conversion);
        CheckMods("rn", "rz", "rm", "rp", "rna", "rni", "rzi", "rmi", "rpi", "ftz", "sat", "relu", "satfinite");
        var (rnd, _, integer) = Rounding();
        i.Rnd = rnd;
        i.Aux = integer ? 1 : 0;
        i.Ftz = Has("ftz");
        i.Sat = Has("sat");
        if (ts.Count == 2 && ts[0] is PType.F16x2 or PType.BF16x2 && ts[1] == PType.F32)
        {
            ExpectOperands(3);
            i.Aux = Has("relu") ? 1 : 0;
            i.Aux2 = ts[0] == PType.BF16x2 ? 1 : 0;
            i.Sat = Has("satfinite");
            i.Fn = &Lanes.Op2<CvtPackH2>;
            i.D = Dst(Op(0));
            i.A = Src(Op(1), PType.F32);
            i.B = Src(Op(2), PType.F32);
            return i;
        }
        if (ts.Count != 2) throw Unsupported("expected .dtype.atype");
        if (Has("relu") || Has("satfinite")) throw Unsupported(".relu/.satfinite on a scalar conversion");
        PType dt = ts[0], st = ts[1];
        if (dt is PType.F16x2 or PType.BF16x2 or PType.B128 || st is PType.F16x2 or PType.BF16x2 or PType.TF32 or PType.B128 or PType.Pred)
            throw Unsupported($"conversion .{dt.ToString().ToLowerInvariant()}.{st.ToString().ToLowerInvariant()}");
        ExpectOperands(2);
        i.Type = dt;
        i.Type2 = st;
        i.D = Dst(Op(0));
        i.A = Src(Op(1), st);
        i.DBits = Bits(i.D);
        bool plain = !i.Ftz && !i.Sat;
        if (plain && dt is PType.U64 or PType.B64 && st is PType.U32 or PType.B32) i.Fn = &Lanes.Op1<CvtU64U32>;
        else if (plain && dt == PType.S64 && st == PType.S32) i.Fn = &Lanes.Op1<CvtS64S32>;
        else if (plain && dt == PType.F32 && st == PType.S32 && rnd == Rnd.Rn) i.Fn = &Lanes.Op1<CvtF32S32Rn>;
        else if (plain && dt == PType.F32 && st == PType.U32 && rnd == Rnd.Rn) i.Fn = &Lanes.Op1<CvtF32U32Rn>;
        else i.Fn = &Lanes.Op1<Cvt>;
        // Float → integer and narrowing float conversions need a rounding modifier in PTX; default as ptxas does.
        if (PTypes.IsFloat(st) && !PTypes.IsFloat(dt) && !integer) { i.Rnd = Rnd.Rz; }
        return i;
    }

    private Instr Cvta()
    {
        CheckMods("to", "global", "shared", "shared::cta", "local", "const", "param", "param::entry");
        ExpectOperands(2);
        var i = New(OpClass.Move);
        var t = LastType();
        i.Type = t;
        bool to = Has("to");
        string space = Mods.Skip(1).First(m => m is "global" or "shared" or "shared::cta" or "local" or "const" or "param" or "param::entry");
        i.Aux = space switch
        {
            "shared" or "shared::cta" or "local" => to ? -1 : 1,
            _ => 0,
        };
        i.Off = space is "local" ? (long)AddressMap.LocalWindow : (long)AddressMap.SharedWindow;
        i.D = Dst(Op(0));
        i.A = Src(Op(1), t);
        i.DBits = Bits(i.D);
        i.Fn = &Lanes.Op1<Cvta>;
        return i;
    }

    private Space SpaceOf(out bool isConst)
    {
        isConst = false;
        foreach (var m in Mods.Skip(1))
        {
            switch (m)
            {
                case "global": return Space.Global;
                case "shared": case "shared::cta": return Space.Shared;
                case "shared::cluster": throw Unsupported(".shared::cluster");
                case "local": return Space.Local;
                case "param": case "param::entry": case "param::func": return Space.Param;
                case "const": isConst = true; return Space.Global;
            }
        }
        return Space.Generic;
    }

    private static readonly string[] LdStMods =
    [
        "global", "shared", "shared::cta", "local", "param", "param::entry", "const", "nc", "volatile", "weak", "relaxed", "acquire", "release",
        "cta", "gpu", "sys", "ca", "cg", "cs", "lu", "cv", "wb", "wt", "v2", "v4",
        "L1::evict_normal", "L1::evict_unchanged", "L1::evict_first", "L1::evict_last", "L1::no_allocate",
        "L2::evict_normal", "L2::evict_first", "L2::evict_last", "L2::cache_hint", "L2::64B", "L2::128B", "L2::256B",
    ];

    private Instr Ld()
    {
        CheckMods(LdStMods);
        var t = LastType();
        var sp = SpaceOf(out bool isConst);
        var i = New(sp switch
        {
            Space.Global => OpClass.GlobalLoad,
            Space.Shared => OpClass.SharedLoad,
            Space.Local => OpClass.LocalLoad,
            Space.Param => OpClass.ParamLoad,
            _ => OpClass.GenericLoad,
        });
        _ = isConst;
        if (_item.Operands.Length < 2) ExpectOperands(2);
        i.Sync = Has("volatile") || Has("relaxed") || Has("acquire");
        i.Type = t;
        i.Space = sp;
        i.Size = PTypes.Size(t);
        if (i.Size > 8 || i.Size == 0) throw Unsupported($"load type .{Mods[^1]}");
        var d = Op(0);
        if (d.Kind == OperandKind.Vector)
        {
            i.V = d.Elements!.Select(Dst).ToArray();
            i.DBits = Bits(i.V[0]);
        }
        else
        {
            i.D = Dst(d);
            i.DBits = Bits(i.D);
        }
        var (reg, off, _) = Addr(Op(1));
        i.A = reg;
        i.Off = off;
        i.Fn = sp switch
        {
            Space.Global => &MemOps.LdGlobal,
            Space.Shared => &MemOps.LdShared,
            Space.Local => &MemOps.LdLocal,
            Space.Param => &MemOps.LdParam,
            _ => &MemOps.LdGeneric,
        };
        return i;
    }

    private Instr St()
    {
        CheckMods(LdStMods);
        var t = LastType();
        var sp = SpaceOf(out bool isConst);
        if (isConst || sp == Space.Param) throw Unsupported("store to .const/.param");
        var i = New(sp switch
        {
            Space.Global => OpClass.GlobalStore,
            Space.Shared => OpClass.SharedStore,
            Space.Local => OpClass.LocalStore,
            _ => OpClass.GenericStore,
        });
        if (_item.Operands.Length < 2) ExpectOperands(2);
        i.Sync = Has("volatile") || Has("relaxed") || Has("release");
        i.Type = t;
        i.Space = sp;
        i.Size = PTypes.Size(t);
        if (i.Size > 8 || i.Size == 0) throw Unsupported($"store type .{Mods[^1]}");
        var (reg, off, _) = Addr(Op(0));
        i.A = reg;
        i.Off = off;
        var s = Op(1);
        if (s.Kind == OperandKind.Vector) i.V = s.Elements!.Select(e => Src(e, t)).ToArray();
        else i.B = Src(s, t);
        i.Fn = sp switch
        {
            Space.Global => &MemOps.StGlobal,
            Space.Shared => &MemOps.StShared,
            Space.Local => &MemOps.StLocal,
            _ => &MemOps.StGeneric,
        };
        return i;
    }

    private Instr Atom(bool red)
    {
        CheckMods("global", "shared", "shared::cta", "relaxed", "acquire", "release", "acq_rel", "cta", "gpu", "sys", "noftz",
            "add", "min", "max", "and", "or", "xor", "exch", "cas", "inc", "dec", "L2::cache_hint");
        var t = LastType();
        var sp = SpaceOf(out bool isConst);
        if (isConst) throw Unsupported("atomic on .const");
        var i = New(OpClass.Atomic);
        i.Type = t;
        i.Space = sp;
        i.Size = PTypes.Size(t);
        string? opName = Mods.Skip(1).FirstOrDefault(m => m is "add" or "min" or "max" or "and" or "or" or "xor" or "exch" or "cas" or "inc" or "dec");
        i.Aux = opName switch
        {
            "add" => MemOps.AtomAdd, "min" => MemOps.AtomMin, "max" => MemOps.AtomMax, "and" => MemOps.AtomAnd,
            "or" => MemOps.AtomOr, "xor" => MemOps.AtomXor, "exch" => MemOps.AtomExch, "cas" => MemOps.AtomCas,
            "inc" => MemOps.AtomInc, "dec" => MemOps.AtomDec, _ => throw Unsupported("no atomic operation given"),
        };
        int k = 0;
        if (!red)
        {
            i.D = Dst(Op(0));
            i.DBits = Bits(i.D);
            k = 1;
        }
        int need = k + (i.Aux == MemOps.AtomCas ? 3 : 2);
        if (_item.Operands.Length < need) ExpectOperands(need);
        var (reg, off, _) = Addr(Op(k));
        i.A = reg;
        i.Off = off;
        i.B = Src(Op(k + 1), t);
        if (i.Aux == MemOps.AtomCas) i.C = Src(Op(k + 2), t);
        i.Fn = &MemOps.Atom;
        return i;
    }

    private Instr CpAsync()
    {
        if (Mods.Length < 2 || Mods[1] != "async") throw Unsupported("");
        var i = New(OpClass.AsyncCopy);
        if (Mods.Length >= 3 && Mods[2] == "commit_group")
        {
            i.Fn = &MemOps.CpAsyncCommit;
            return i;
        }
        if (Mods.Length >= 3 && Mods[2] == "wait_group")
        {
            ExpectOperands(1);
            if (Op(0).Kind != OperandKind.Immediate) throw Unsupported("wait_group count must be a constant");
            i.Aux = (int)Op(0).ImmBits;
            i.Fn = &MemOps.CpAsyncWait;
            return i;
        }
        if (Mods.Length >= 3 && Mods[2] == "wait_all")
        {
            i.Aux2 = 1;
            i.Fn = &MemOps.CpAsyncWait;
            return i;
        }
        CheckMods("async", "ca", "cg", "shared", "shared::cta", "global", "L2::64B", "L2::128B", "L2::256B", "L2::cache_hint");
        if (!Has("ca") && !Has("cg")) throw Unsupported("expected .ca or .cg");
        if (_item.Operands.Length < 3) ExpectOperands(3, 5);
        var (dreg, doff, _) = Addr(Op(0));
        var (sreg, soff, _) = Addr(Op(1));
        if (Op(2).Kind != OperandKind.Immediate) throw Unsupported("cp-size must be a constant");
        int cp = (int)Op(2).ImmBits;
        if (cp is not (4 or 8 or 16)) throw Unsupported($"cp-size {cp}");
        if (Has("cg") && cp != 16) throw Unsupported("cp.async.cg needs cp-size 16");
        i.A = dreg;
        i.Off = doff;
        i.B = sreg;
        i.Aux = (int)soff;
        i.Size = cp;
        if (_item.Operands.Length >= 4 && !Has("L2::cache_hint") || _item.Operands.Length >= 5)
        {
            var o = Op(3);
            if (o.Kind == OperandKind.Name && TryLookupReg(o.Name!, out int r) && Bits(r) == 1)
            {
                i.C = r;
                i.Aux2 = 1;
                if (o.Negated) throw Unsupported("negated ignore-src");
            }
            else i.C = Src(o, PType.U32);
        }
        i.Fn = &MemOps.CpAsync;
        return i;
    }

    private Instr Bra()
    {
        CheckMods("uni");
        ExpectOperands(1);
        var i = New(OpClass.Control);
        i.Flow = Flow.Branch;
        i.Aux = Has("uni") ? 1 : 0;
        i.Target = Label(Op(0));
        return i;
    }

    private Instr Bar()
    {
        // bar.sync / bar.cta.sync / barrier.sync{.aligned} / barrier.cta.sync{.aligned} a{, b}; bar.warp.sync m.
        if (Has("warp"))
        {
            CheckMods("warp", "sync");
            ExpectOperands(1);
            var w = New(OpClass.Barrier);
            w.Flow = Flow.Collective;
            w.Aux3 = Src(Op(0), PType.B32);
            w.Fn = &WarpOps.WarpSync;
            return w;
        }
        CheckMods("sync", "cta", "aligned");
        if (!Has("sync")) throw Unsupported("only bar.sync / barrier.sync are supported (not arrive/red)");
        var i = New(OpClass.Barrier);
        i.Flow = Flow.Barrier;
        if (_item.Operands.Length == 0) i.A = Zero;
        else
        {
            ExpectOperands(1, 2);
            i.A = Src(Op(0), PType.U32);
            if (_item.Operands.Length == 2) i.B = Src(Op(1), PType.U32);
        }
        return i;
    }

    private Instr Shfl()
    {
        CheckMods("sync", "up", "down", "bfly", "idx");
        if (!Has("sync")) throw Unsupported("shfl without .sync (removed on sm_70+)");
        ExpectOperands(5);
        var i = New(OpClass.WarpShuffle);
        i.Flow = Flow.Collective;
        i.Aux = Has("up") ? 0 : Has("down") ? 1 : Has("bfly") ? 2 : 3;
        var d = Op(0);
        if (d.Kind == OperandKind.Pair)
        {
            i.D = Dst(new Operand { Kind = OperandKind.Name, Name = d.Name });
            i.D2 = Dst(new Operand { Kind = OperandKind.Name, Name = d.Name2 });
        }
        else i.D = Dst(d);
        i.A = Src(Op(1), PType.B32);
        i.B = Src(Op(2), PType.B32);
        i.C = Src(Op(3), PType.B32);
        i.Aux3 = Src(Op(4), PType.B32);
        i.Fn = &WarpOps.Shfl;
        return i;
    }

    private Instr Vote()
    {
        CheckMods("sync", "all", "any", "uni", "ballot");
        if (!Has("sync")) throw Unsupported("vote without .sync (removed on sm_70+)");
        ExpectOperands(3);
        var i = New(OpClass.WarpVote);
        i.Flow = Flow.Collective;
        i.Aux = Has("all") ? 0 : Has("any") ? 1 : Has("uni") ? 2 : 3;
        i.D = Dst(Op(0));
        i.A = PredSrc(Op(1), out bool neg);
        i.Aux2 = neg ? 1 : 0;
        i.Aux3 = Src(Op(2), PType.B32);
        i.Fn = &WarpOps.Vote;
        return i;
    }

    private Instr Redux()
    {
        CheckMods("sync", "add", "min", "max", "and", "or", "xor");
        ExpectOperands(3);
        var i = New(OpClass.WarpVote);
        i.Flow = Flow.Collective;
        i.Type = LastType();
        if (i.Type is not (PType.U32 or PType.S32 or PType.B32)) throw Unsupported("redux.sync on non-32-bit integer types");
        i.Aux = Has("add") ? 0 : Has("min") ? 1 : Has("max") ? 2 : Has("and") ? 3 : Has("or") ? 4 : 5;
        i.D = Dst(Op(0));
        i.A = Src(Op(1), i.Type);
        i.Aux3 = Src(Op(2), PType.B32);
        i.Fn = &WarpOps.Redux;
        return i;
    }

    private Instr MatchOp()
    {
        CheckMods("sync", "any", "all");
        ExpectOperands(3);
        var i = New(OpClass.WarpVote);
        i.Flow = Flow.Collective;
        i.Type = LastType();
        i.Aux = Has("all") ? 1 : 0;
        var d = Op(0);
        if (d.Kind == OperandKind.Pair)
        {
            i.D = Dst(new Operand { Kind = OperandKind.Name, Name = d.Name });
            i.D2 = Dst(new Operand { Kind = OperandKind.Name, Name = d.Name2 });
        }
        else i.D = Dst(d);
        i.A = Src(Op(1), i.Type);
        i.Aux3 = Src(Op(2), PType.B32);
        i.Fn = &WarpOps.Match;
        return i;
    }

    private Instr Mma()
    {
        // mma.sync.aligned.shape.row.col{.satfinite}.dtype.atype.btype.ctype d, a, b, c
        CheckMods("sync", "aligned", "m16n8k16", "m16n8k8", "m16n8k32", "m8n8k16", "row", "col", "satfinite");
        if (!Has("sync") || !Has("aligned")) throw Unsupported("mma needs .sync.aligned");
        if (Mods.Length < 6 || Array.IndexOf(Mods, "row") < 0 || Array.IndexOf(Mods, "col") < 0 || Array.IndexOf(Mods, "row") > Array.IndexOf(Mods, "col"))
            throw Unsupported("only the .row.col layout is supported");
        var ts = Types();
        if (ts.Count != 4) throw Unsupported("expected .dtype.atype.btype.ctype");
        PType dt = ts[0], at = ts[1], bt = ts[2], ct = ts[3];
        MmaKind kind;
        if (Has("m16n8k16") && at is PType.F16 or PType.BF16) kind = MmaKind.M16N8K16Half;
        else if (Has("m16n8k8") && at is PType.F16 or PType.BF16) kind = MmaKind.M16N8K8Half;
        else if (Has("m16n8k8") && at == PType.TF32) kind = MmaKind.M16N8K8Tf32;
        else if (Has("m16n8k32") && at is PType.S8 or PType.U8) kind = MmaKind.M16N8K32Int8;
        else if (Has("m16n8k16") && at is PType.S8 or PType.U8) kind = MmaKind.M16N8K16Int8;
        else if (Has("m8n8k16") && at is PType.S8 or PType.U8) kind = MmaKind.M8N8K16Int8;
        else throw Unsupported($"shape/type combination {string.Join('.', Mods.Skip(3))}");
        if (at != bt && !(at is PType.S8 or PType.U8 && bt is PType.S8 or PType.U8)) throw Unsupported("different A and B types");
        bool intKind = at is PType.S8 or PType.U8;
        if (intKind && (dt != PType.S32 || ct != PType.S32)) throw Unsupported("integer mma needs .s32 accumulators");
        if (!intKind && (dt is not (PType.F32 or PType.F16) || ct is not (PType.F32 or PType.F16))) throw Unsupported("floating-point mma needs .f32 or .f16 accumulators");
        if ((at == PType.BF16 || at == PType.TF32) && (dt != PType.F32 || ct != PType.F32)) throw Unsupported(".bf16/.tf32 mma needs .f32 accumulators");
        ExpectOperands(4);
        int[] Regs(Operand o, Func<Operand, int> f) => o.Kind == OperandKind.Vector ? o.Elements!.Select(f).ToArray() : [f(o)];
        var d = Regs(Op(0), Dst);
        var a = Regs(Op(1), e => Src(e, PType.B32));
        var b = Regs(Op(2), e => Src(e, PType.B32));
        var c = Regs(Op(3), e => Src(e, ct == PType.F32 ? PType.F32 : PType.B32));
        var (_, _, _, na, nb, nc) = MmaOps.Shape(kind);
        int per(PType t) => t == PType.TF32 ? 1 : PTypes.Size(t) switch { 1 => 4, 2 => 2, _ => 1 };
        if (a.Length * per(at) != na || b.Length * per(bt) != nb || c.Length * per(ct) != nc || d.Length * per(dt) != nc)
            throw Unsupported($"operand register counts {{{d.Length}}}, {{{a.Length}}}, {{{b.Length}}}, {{{c.Length}}} do not fit the shape");
        var i = New(OpClass.Mma);
        i.Flow = Flow.Collective;
        i.Aux3 = -1;
        i.Aux = (int)kind;
        i.Type = dt;
        i.Type2 = at;
        i.Aux2 = (int)bt;
        i.Type3 = ct;
        i.Sat = Has("satfinite");
        i.V = [.. d, .. a, .. b, .. c];
        i.Size = d.Length | (a.Length << 4) | (b.Length << 8) | (c.Length << 12);
        i.Fn = &MmaOps.Mma;
        return i;
    }

    /// <summary>Calls are rejected with the reason (device functions are inlined in our kernels; an .extern callee cannot link).</summary>
    private PtxUnsupportedInstructionException CallError()
    {
        var callee = _item.Operands.FirstOrDefault(o => o.Kind == OperandKind.Name)?.Name ?? "?";
        var fn = _module.Parser.Functions.FirstOrDefault(f => f.Name == callee);
        string why = fn is null ? $"callee {callee} is not in the module"
            : !fn.HasBody ? $"callee {callee} is an .extern function without a body, so the module would not link on a device either (NVRTC emits this for an intrinsic such as __dp4a whose declaring header is not included; use inline PTX)"
            : $"calls to device functions are not supported (mark {callee} __forceinline__)";
        return Unsupported(why);
    }

    private Instr LdMatrix()
    {
        CheckMods("sync", "aligned", "m8n8", "x1", "x2", "x4", "trans", "shared", "shared::cta", "b16");
        if (!Has("m8n8") || !Has("b16")) throw Unsupported("only .m8n8 .b16 is supported");
        ExpectOperands(2);
        var i = New(OpClass.LdMatrix);
        i.Flow = Flow.Collective;
        i.Aux3 = -1;
        i.Aux = Has("x4") ? 4 : Has("x2") ? 2 : 1;
        i.Aux2 = Has("trans") ? 1 : 0;
        i.Space = Has("shared") || Has("shared::cta") ? Space.Shared : Space.Generic;
        var d = Op(0);
        i.V = d.Kind == OperandKind.Vector ? d.Elements!.Select(Dst).ToArray() : [Dst(d)];
        if (i.V.Length != i.Aux) throw Unsupported($"{i.V.Length} destination registers for .x{i.Aux}");
        var (reg, off, _) = Addr(Op(1));
        i.A = reg;
        i.Off = off;
        i.Fn = &MemOps.LdMatrix;
        return i;
    }
}
