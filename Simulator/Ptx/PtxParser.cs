using System.Globalization;
using System.Text;

namespace Vgg.Engine.Simulator.Ptx;

/// <summary>
/// Parses PTX text as NVRTC emits it (PTX ISA §4 "Syntax", §5 "State Spaces, Types, and Variables",
/// §11 "Directives"): module directives, module-scope variables, .entry/.func with .param lists and
/// performance-tuning directives, bodies with .reg/.shared/.local declarations, labels, nested { }
/// scopes (inline asm), guarded instructions and every operand form. Semantics are left to the decoder.
/// </summary>
internal sealed class PtxParser
{
    private readonly string _src;
    private readonly string _name;
    private int _pos;
    private int _line = 1;

    public string Version = "";
    public string Target = "";
    public int AddressSize = 64;
    public readonly List<VariableDecl> Globals = [];
    public readonly List<FunctionDecl> Functions = [];

    private PtxParser(string src, string name)
    {
        _src = src;
        _name = name;
    }

    public static PtxParser Parse(string text, string name)
    {
        var p = new PtxParser(text, name);
        p.ParseModule();
        return p;
    }

    private PtxParseException Error(string problem) => new(_name, _line, problem);

    // ---------------------------------------------------------------- lexing helpers

    private void SkipTrivia()
    {
        while (_pos < _src.Length)
        {
            char c = _src[_pos];
            if (c == '\n') { _line++; _pos++; }
            else if (char.IsWhiteSpace(c)) _pos++;
            else if (c == '/' && _pos + 1 < _src.Length && _src[_pos + 1] == '/')
            {
                while (_pos < _src.Length && _src[_pos] != '\n') _pos++;
            }
            else if (c == '/' && _pos + 1 < _src.Length && _src[_pos + 1] == '*')
            {
                int end = _src.IndexOf("*/", _pos + 2, StringComparison.Ordinal);
                if (end < 0) throw Error("unterminated /* comment");
                for (int i = _pos; i < end; i++) if (_src[i] == '\n') _line++;
                _pos = end + 2;
            }
            else break;
        }
    }

    private bool AtEnd { get { SkipTrivia(); return _pos >= _src.Length; } }

    private char Peek() { SkipTrivia(); return _pos < _src.Length ? _src[_pos] : '\0'; }

    private bool TryChar(char c)
    {
        if (Peek() == c) { _pos++; return true; }
        return false;
    }

    private void Expect(char c)
    {
        if (!TryChar(c)) throw Error($"expected '{c}' but found {Describe()}");
    }

    private string Describe()
    {
        SkipTrivia();
        if (_pos >= _src.Length) return "end of text";
        int end = _pos;
        while (end < _src.Length && end - _pos < 24 && _src[end] != '\n') end++;
        return "'" + _src[_pos..end] + "'";
    }

    private static bool IsIdentStart(char c) => char.IsAsciiLetter(c) || c is '_' or '$' or '%' or '.';
    private static bool IsIdentChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '$' or '%' or '.';

    /// <summary>An identifier, directive, opcode or register: letters, digits, _ $ % . and "::".</summary>
    private string? TryIdent()
    {
        SkipTrivia();
        if (_pos >= _src.Length || !IsIdentStart(_src[_pos])) return null;
        int start = _pos;
        while (_pos < _src.Length)
        {
            char c = _src[_pos];
            if (IsIdentChar(c)) _pos++;
            else if (c == ':' && _pos + 1 < _src.Length && _src[_pos + 1] == ':') _pos += 2;
            else break;
        }
        return _src[start.._pos];
    }

    private string Ident(string what)
    {
        return TryIdent() ?? throw Error($"expected {what} but found {Describe()}");
    }

    private long ParseIntLiteral()
    {
        var op = ParseNumber(false);
        if (op.ImmKind != ImmediateKind.Integer) throw Error("expected an integer");
        return (long)op.ImmBits;
    }

    /// <summary>Integer (decimal, 0x hex, 0b binary, 0 octal, U suffix), 0fXXXXXXXX, 0dXXXXXXXXXXXXXXXX or decimal float (PTX ISA §4.5 "Constants").</summary>
    private Operand ParseNumber(bool negate)
    {
        SkipTrivia();
        int start = _pos;
        var s = _src;
        if (_pos + 1 < s.Length && s[_pos] == '0' && (s[_pos + 1] is 'f' or 'F' or 'd' or 'D'))
        {
            bool isF = s[_pos + 1] is 'f' or 'F';
            _pos += 2;
            int hs = _pos;
            while (_pos < s.Length && char.IsAsciiHexDigit(s[_pos])) _pos++;
            int n = _pos - hs;
            if (n != (isF ? 8 : 16)) throw Error($"bad floating-point literal '{s[start.._pos]}': expected {(isF ? 8 : 16)} hex digits");
            ulong bits = ulong.Parse(s.AsSpan(hs, n), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (negate) bits ^= isF ? 0x80000000UL : 0x8000000000000000UL;
            return new Operand { Kind = OperandKind.Immediate, ImmKind = isF ? ImmediateKind.F32Bits : ImmediateKind.F64Bits, ImmBits = bits };
        }
        if (_pos + 1 < s.Length && s[_pos] == '0' && (s[_pos + 1] is 'x' or 'X'))
        {
            _pos += 2;
            int hs = _pos;
            while (_pos < s.Length && char.IsAsciiHexDigit(s[_pos])) _pos++;
            if (_pos == hs) throw Error("bad hex literal");
            ulong v = ulong.Parse(s.AsSpan(hs, _pos - hs), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (_pos < s.Length && s[_pos] is 'U' or 'u') _pos++;
            return Int(negate ? (ulong)-(long)v : v);
        }
        if (_pos + 1 < s.Length && s[_pos] == '0' && (s[_pos + 1] is 'b' or 'B'))
        {
            _pos += 2;
            ulong v = 0;
            int bs = _pos;
            while (_pos < s.Length && s[_pos] is '0' or '1') { v = (v << 1) | (uint)(s[_pos] - '0'); _pos++; }
            if (_pos == bs) throw Error("bad binary literal");
            if (_pos < s.Length && s[_pos] is 'U' or 'u') _pos++;
            return Int(negate ? (ulong)-(long)v : v);
        }
        while (_pos < s.Length && char.IsAsciiDigit(s[_pos])) _pos++;
        bool isFloat = false;
        if (_pos < s.Length && s[_pos] == '.' && _pos + 1 < s.Length && char.IsAsciiDigit(s[_pos + 1]))
        {
            isFloat = true;
            _pos++;
            while (_pos < s.Length && char.IsAsciiDigit(s[_pos])) _pos++;
        }
        if (_pos < s.Length && s[_pos] is 'e' or 'E')
        {
            isFloat = true;
            _pos++;
            if (_pos < s.Length && s[_pos] is '+' or '-') _pos++;
            while (_pos < s.Length && char.IsAsciiDigit(s[_pos])) _pos++;
        }
        var text = s[start.._pos];
        if (text.Length == 0) throw Error($"expected a number but found {Describe()}");
        if (isFloat)
        {
            double d = double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
            if (negate) d = -d;
            return new Operand { Kind = OperandKind.Immediate, ImmKind = ImmediateKind.DecimalFloat, ImmBits = BitConverter.DoubleToUInt64Bits(d) };
        }
        ulong value;
        if (text.Length > 1 && text[0] == '0')
        {
            value = 0;
            foreach (char c in text)
            {
                if (c > '7') throw Error($"bad octal literal '{text}'");
                value = value * 8 + (uint)(c - '0');
            }
        }
        else value = ulong.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
        if (_pos < s.Length && s[_pos] is 'U' or 'u') _pos++;
        return Int(negate ? (ulong)-(long)value : value);
    }

    private static Operand Int(ulong v) => new() { Kind = OperandKind.Immediate, ImmKind = ImmediateKind.Integer, ImmBits = v };

    private static bool IsDigit(char c) => c >= '0' && c <= '9';

    // ---------------------------------------------------------------- module level

    private void ParseModule()
    {
        while (!AtEnd)
        {
            int line = _line;
            if (TryChar(';')) continue;
            var tok = Ident("a directive");
            switch (tok)
            {
                case ".version": Version = ReadToLineEnd(); break;
                case ".target": Target = ReadToLineEnd(); break;
                case ".address_size":
                    AddressSize = (int)ParseIntLiteral();
                    if (AddressSize != 64) throw Error(".address_size 32 is not supported (only 64-bit PTX)");
                    break;
                case ".file": case ".loc": case ".section": ReadToLineEnd(); break;
                default:
                    ParseModuleDeclaration(tok, line);
                    break;
            }
        }
    }

    private string ReadToLineEnd()
    {
        SkipTrivia();
        int start = _pos;
        while (_pos < _src.Length && _src[_pos] != '\n') _pos++;
        var text = _src[start.._pos];
        int comment = text.IndexOf("//", StringComparison.Ordinal);
        if (comment >= 0) text = text[..comment];
        return text.Trim();
    }

    private void ParseModuleDeclaration(string first, int line)
    {
        bool isExtern = false;
        string tok = first;
        while (tok is ".visible" or ".extern" or ".weak" or ".common")
        {
            if (tok == ".extern") isExtern = true;
            tok = Ident("a declaration");
        }
        switch (tok)
        {
            case ".entry":
            case ".func":
                ParseFunction(tok == ".entry", line);
                return;
            case ".global":
            case ".const":
            case ".shared":
            case ".local":
                foreach (var v in ParseVariableDecl(tok[1..], isExtern, line, allowInit: true)) Globals.Add(v);
                return;
            default:
                throw Error($"unexpected '{tok}' at module scope");
        }
    }

    /// <summary>After the state space: [.align N] [.v2|.v4] .type name[dims]... [= init] {, name...} ;</summary>
    private List<VariableDecl> ParseVariableDecl(string space, bool isExtern, int line, bool allowInit)
    {
        int align = 0, vec = 1;
        string? type = null;
        while (true)
        {
            SkipTrivia();
            if (Peek() != '.') break;
            var t = Ident("a variable attribute");
            if (t == ".align") align = (int)ParseIntLiteral();
            else if (t == ".v2") vec = 2;
            else if (t == ".v4") vec = 4;
            else if (t == ".ptr" || t == ".attribute") { SkipAttributeArgs(); }
            else { type = t[1..]; break; }
        }
        if (type is null) throw Error($"missing type in .{space} declaration");
        int esize = TypeSize(type) ?? throw Error($"unknown type .{type}");
        var list = new List<VariableDecl>();
        while (true)
        {
            var name = Ident("a variable name");
            long count = 1;
            bool unsized = false;
            while (TryChar('['))
            {
                if (TryChar(']')) { unsized = true; continue; }
                long dim = ParseIntLiteral();
                Expect(']');
                count *= dim;
            }
            var v = new VariableDecl
            {
                Name = name, Space = space, ElemType = type, ElemSize = esize, Align = align == 0 ? esize * vec : align,
                VectorWidth = vec, Count = unsized ? -1 : count, IsExtern = isExtern, Line = line,
            };
            if (TryChar('='))
            {
                if (!allowInit) throw Error("initializer not allowed here");
                v.Init = ParseInitializer(type, esize, v.SizeBytes);
            }
            list.Add(v);
            if (!TryChar(',')) break;
        }
        Expect(';');
        return list;
    }

    private void SkipAttributeArgs()
    {
        if (Peek() == '(')
        {
            int depth = 0;
            do
            {
                char c = _src[_pos++];
                if (c == '(') depth++;
                else if (c == ')') depth--;
                else if (c == '\n') _line++;
            } while (depth > 0 && _pos < _src.Length);
        }
    }

    private byte[] ParseInitializer(string type, int esize, long size)
    {
        var bytes = new byte[size];
        int index = 0;
        void Put(Operand op)
        {
            if ((long)(index + 1) * esize > size) throw Error("too many initializer values");
            ulong bits = op.ImmKind switch
            {
                ImmediateKind.Integer => type[0] == 'f' ? (esize == 4 ? BitConverter.SingleToUInt32Bits((long)op.ImmBits) : BitConverter.DoubleToUInt64Bits((long)op.ImmBits)) : op.ImmBits,
                ImmediateKind.F32Bits => esize == 8 ? BitConverter.DoubleToUInt64Bits(BitConverter.UInt32BitsToSingle((uint)op.ImmBits)) : op.ImmBits,
                ImmediateKind.F64Bits or ImmediateKind.DecimalFloat => esize == 4 ? BitConverter.SingleToUInt32Bits((float)BitConverter.UInt64BitsToDouble(op.ImmBits)) : op.ImmBits,
                _ => op.ImmBits,
            };
            for (int b = 0; b < esize; b++) bytes[index * esize + b] = (byte)(bits >> (8 * b));
            index++;
        }
        void ParseList()
        {
            if (TryChar('{'))
            {
                if (TryChar('}')) return;
                do { ParseList(); } while (TryChar(','));
                Expect('}');
            }
            else
            {
                bool neg = TryChar('-');
                var c = Peek();
                if (!IsDigit(c)) throw Error($"expected an initializer value but found {Describe()}");
                Put(ParseNumber(neg));
            }
        }
        ParseList();
        return bytes;
    }

    /// <summary>Size in bytes of a fundamental PTX type (PTX ISA §5.2 "Types"), or null.</summary>
    public static int? TypeSize(string t) => t switch
    {
        "b8" or "u8" or "s8" or "e4m3" or "e5m2" => 1,
        "b16" or "u16" or "s16" or "f16" or "bf16" => 2,
        "b32" or "u32" or "s32" or "f32" or "f16x2" or "bf16x2" or "tf32" => 4,
        "b64" or "u64" or "s64" or "f64" => 8,
        "b128" => 16,
        "pred" => 1,
        _ => null,
    };

    private void ParseFunction(bool isEntry, int line)
    {
        // .func may have a return parameter list before the name.
        if (!isEntry && Peek() == '(') ParseParamList(null);
        var name = Ident("a function name");
        var fn = new FunctionDecl { Name = name, IsEntry = isEntry, Line = line };
        if (Peek() == '(') ParseParamList(fn.Params);
        // Performance-tuning directives (PTX ISA §11.4).
        while (true)
        {
            SkipTrivia();
            if (Peek() != '.') break;
            var d = Ident("a directive");
            switch (d)
            {
                case ".maxntid": fn.MaxNtid = ParseDims(); break;
                case ".reqntid": fn.ReqNtid = ParseDims(); break;
                case ".minnctapersm":
                case ".maxnreg":
                case ".maxnctapersm":
                case ".maxclusterrank":
                    ParseIntLiteral(); break;
                case ".reqnctapercluster":
                case ".explicitcluster":
                    ParseDims(); break;
                case ".noreturn": break;
                case ".pragma": ReadString(); break;
                default: throw Error($"unexpected '{d}' after the parameters of {name}");
            }
        }
        if (TryChar(';')) { Functions.Add(fn); return; }
        Expect('{');
        fn.HasBody = true;
        ParseBody(fn);
        Functions.Add(fn);
    }

    private (int, int, int) ParseDims()
    {
        int x = (int)ParseIntLiteral(), y = 1, z = 1;
        if (TryChar(',')) { y = (int)ParseIntLiteral(); if (TryChar(',')) z = (int)ParseIntLiteral(); }
        return (x, y, z);
    }

    private string ReadString()
    {
        SkipTrivia();
        if (Peek() != '"') throw Error("expected a string");
        int end = _src.IndexOf('"', _pos + 1);
        if (end < 0) throw Error("unterminated string");
        var s = _src[(_pos + 1)..end];
        _pos = end + 1;
        return s;
    }

    private void ParseParamList(List<ParamDecl>? into)
    {
        Expect('(');
        if (TryChar(')')) return;
        do
        {
            var sp = Ident(".param");
            if (sp != ".param" && sp != ".reg") throw Error($"expected .param but found '{sp}'");
            int align = 0;
            string? type = null;
            while (true)
            {
                var t = Ident("a parameter attribute");
                if (t == ".align") align = (int)ParseIntLiteral();
                else if (t == ".ptr") { }
                else if (t is ".global" or ".shared" or ".const" or ".local") { }
                else if (t.StartsWith('.')) { type ??= t[1..]; if (TypeSize(type) is null) throw Error($"unknown parameter type {t}"); }
                else
                {
                    if (type is null) throw Error($"parameter {t} has no type");
                    long count = 1;
                    if (TryChar('[')) { count = ParseIntLiteral(); Expect(']'); }
                    int es = TypeSize(type)!.Value;
                    into?.Add(new ParamDecl { Name = t, Type = type, ElemSize = es, Align = align == 0 ? es : align, Count = count });
                    break;
                }
            }
        } while (TryChar(','));
        Expect(')');
    }

    // ---------------------------------------------------------------- bodies

    private void ParseBody(FunctionDecl fn)
    {
        int depth = 1;
        while (true)
        {
            if (AtEnd) throw Error($"unterminated body of {fn.Name}");
            int line = _line;
            char c = Peek();
            if (c == '}')
            {
                _pos++;
                depth--;
                if (depth == 0) return;
                fn.Body.Add(new BodyItem { Kind = BodyItemKind.ScopeClose, Line = line });
                continue;
            }
            if (c == '{')
            {
                _pos++;
                depth++;
                fn.Body.Add(new BodyItem { Kind = BodyItemKind.ScopeOpen, Line = line });
                continue;
            }
            if (c == ';') { _pos++; continue; }
            if (c == '@')
            {
                fn.Body.Add(ParseInstruction(line));
                continue;
            }
            int save = _pos, saveLine = _line;
            var tok = TryIdent() ?? throw Error($"unexpected {Describe()} in body of {fn.Name}");
            if (Peek() == ':' && !(_pos + 1 < _src.Length && _src[_pos + 1] == ':'))
            {
                _pos++;
                fn.Body.Add(new BodyItem { Kind = BodyItemKind.Label, Line = line, LabelName = tok });
                continue;
            }
            switch (tok)
            {
                case ".reg":
                    fn.Body.Add(ParseRegDecl(line));
                    continue;
                case ".shared":
                case ".local":
                case ".global":
                case ".const":
                    foreach (var v in ParseVariableDecl(tok[1..], false, line, allowInit: tok is ".global" or ".const"))
                        fn.Body.Add(new BodyItem { Kind = BodyItemKind.VarDecl, Line = line, Variable = v });
                    continue;
                case ".pragma":
                    ReadString();
                    Expect(';');
                    continue;
                case ".loc":
                case ".file":
                    ReadToLineEnd();
                    continue;
                case ".param":
                    // Call sequences declare their argument buffers in the body; the decoder rejects the call itself.
                    foreach (var v in ParseVariableDecl("param", false, line, allowInit: false))
                        fn.Body.Add(new BodyItem { Kind = BodyItemKind.VarDecl, Line = line, Variable = v });
                    continue;
            }
            _pos = save;
            _line = saveLine;
            fn.Body.Add(ParseInstruction(line));
        }
    }

    private BodyItem ParseRegDecl(int line)
    {
        string type = "";
        while (true)
        {
            var t = Ident("a register type");
            if (t is ".v2" or ".v4") throw Error("vector register declarations are not supported");
            type = t[1..];
            if (TypeSize(type) is null) throw Error($"unknown register type {t}");
            break;
        }
        var names = new List<string>();
        do
        {
            var name = Ident("a register name");
            if (TryChar('<'))
            {
                long n = ParseIntLiteral();
                Expect('>');
                for (long i = 0; i < n; i++) names.Add(name + i.ToString(CultureInfo.InvariantCulture));
            }
            else names.Add(name);
        } while (TryChar(','));
        Expect(';');
        return new BodyItem { Kind = BodyItemKind.RegDecl, Line = line, RegType = type, RegNames = names };
    }

    private BodyItem ParseInstruction(int line)
    {
        int start = _pos;
        var item = new BodyItem { Kind = BodyItemKind.Instruction, Line = line };
        if (TryChar('@'))
        {
            if (TryChar('!')) item.GuardNegated = true;
            item.GuardName = Ident("a guard predicate");
        }
        item.Opcode = Ident("an instruction");
        item.Parts = item.Opcode.Split('.');
        var ops = new List<Operand>();
        if (Peek() != ';')
        {
            do { ops.Add(ParseOperand()); } while (TryChar(','));
        }
        Expect(';');
        item.Operands = [.. ops];
        item.Text = Normalize(_src.AsSpan(start, _pos - start));
        return item;
    }

    private static string Normalize(ReadOnlySpan<char> s)
    {
        var sb = new StringBuilder(s.Length);
        bool space = false;
        foreach (char c in s)
        {
            if (char.IsWhiteSpace(c)) { space = sb.Length > 0; continue; }
            if (space) { sb.Append(' '); space = false; }
            sb.Append(c);
        }
        return sb.ToString();
    }

    private Operand ParseOperand()
    {
        char c = Peek();
        if (c == '{' || c == '(')
        {
            // {a, b, c, d} vectors; (a, b) argument lists of call.
            char close = c == '{' ? '}' : ')';
            _pos++;
            var els = new List<Operand>();
            if (!TryChar(close))
            {
                do { els.Add(ParseOperand()); } while (TryChar(','));
                Expect(close);
            }
            return new Operand { Kind = OperandKind.Vector, Elements = [.. els] };
        }
        if (c == '[')
        {
            _pos++;
            var op = new Operand { Kind = OperandKind.Address };
            if (IsIdentStart(Peek()))
            {
                op.Name = Ident("an address base");
                while (Peek() is '+' or '-')
                {
                    bool minus = _src[_pos] == '-';
                    _pos++;
                    bool neg2 = TryChar('-');
                    long v = ParseIntLiteral();
                    op.Offset += (minus ^ neg2) ? -v : v;
                }
            }
            else
            {
                bool neg = TryChar('-');
                long v = ParseIntLiteral();
                op.Offset = neg ? -v : v;
            }
            Expect(']');
            return op;
        }
        if (c == '!')
        {
            _pos++;
            var n = Ident("a predicate");
            return new Operand { Kind = OperandKind.Name, Name = n, Negated = true };
        }
        if (c == '-' || IsDigit(c))
        {
            bool neg = TryChar('-');
            if (!IsDigit(Peek())) throw Error($"expected a number after '-' but found {Describe()}");
            return ParseNumber(neg);
        }
        if (c == '_' && _pos + 1 < _src.Length && !IsIdentChar(_src[_pos + 1]))
        {
            _pos++;
            return new Operand { Kind = OperandKind.Sink };
        }
        var name = TryIdent() ?? throw Error($"expected an operand but found {Describe()}");
        if (Peek() == '|')
        {
            _pos++;
            var second = Ident("a predicate after '|'");
            return new Operand { Kind = OperandKind.Pair, Name = name, Name2 = second };
        }
        var o = new Operand { Kind = OperandKind.Name, Name = name };
        while (Peek() is '+' or '-')
        {
            bool minus = _src[_pos] == '-';
            _pos++;
            long v = ParseIntLiteral();
            o.Offset += minus ? -v : v;
        }
        return o;
    }
}
