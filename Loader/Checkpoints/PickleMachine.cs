using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace Vgg.Engine.Loader.Checkpoints;

// Why our own pickle VM and not Razorvine.Pickle 1.5.0 (checked against the 1.5.0 assembly):
//  - it has no find_class hook: an unknown global (os.system, __main__.Net) silently becomes a
//    ClassDictConstructor, so a pickled whole module loads as a dict instead of being refused, and a
//    refused global cannot be named at the opcode that refers to it;
//  - its constructor table (Unpickler.objectConstructors, registerConstructor) is static and
//    process-wide: registering torch's rebuild functions would change every other unpickler in the
//    host process, and its default entries (datetime, decimal, array, _codecs, exceptions) are
//    always on, outside our allow-list;
//  - BUILD calls __setstate__ by reflection on whatever object is on the stack;
//  - dicts are Hashtables, which lose the order of a state_dict's keys;
//  - no limits on memo size, stack size or string lengths against the input.
// The machine below implements the opcodes of pickle protocols 0 to 5 that describe data (what
// torch.save writes), resolves every global through an allow-list supplied by the caller, and never
// executes anything: a "call" (REDUCE, NEWOBJ, INST, OBJ) is only possible on an allowed global whose
// behaviour is written in C# (see TorchPickle). Opcode semantics follow CPython's Lib/pickle.py
// (_Unpickler.load_*) and the descriptions in Lib/pickletools.py.

/// <summary>A Python tuple (immutable sequence).</summary>
internal sealed class PyTuple
{
    public static readonly PyTuple Empty = new(Array.Empty<object?>());
    public PyTuple(object?[] items) => Items = items;
    public object?[] Items { get; }
    public int Count => Items.Length;
    public object? this[int i] => Items[i];
}

/// <summary>A Python list.</summary>
internal sealed class PyList
{
    public List<object?> Items { get; } = new();
}

/// <summary>A Python set or frozenset (kept only as data).</summary>
internal sealed class PySet
{
    public List<object?> Items { get; } = new();
}

/// <summary>
/// A Python dict or collections.OrderedDict: insertion-ordered, assignment to an existing key keeps
/// its position (Python 3.7+ semantics). Keys of primitive type (str, int, float, bool, None, bytes)
/// compare by value; any other key object by reference (never hashed recursively).
/// </summary>
internal sealed class PyDict
{
    private readonly List<KeyValuePair<object?, object?>> _entries = new();
    private readonly Dictionary<object, int> _index = new(KeyComparer.Instance);

    public PyDict(bool ordered) => IsOrderedDict = ordered;

    /// <summary>True for collections.OrderedDict.</summary>
    public bool IsOrderedDict { get; }

    /// <summary>Attributes set by BUILD (OrderedDict's __dict__, e.g. a state_dict's "_metadata").</summary>
    public PyDict? Attributes { get; set; }

    public int Count => _entries.Count;
    public IReadOnlyList<KeyValuePair<object?, object?>> Entries => _entries;

    public void Set(object? key, object? value)
    {
        var k = key ?? NoneKey;
        if (_index.TryGetValue(k, out int i)) _entries[i] = new(key, value);
        else
        {
            _index[k] = _entries.Count;
            _entries.Add(new(key, value));
        }
    }

    public bool TryGet(string key, out object? value)
    {
        if (_index.TryGetValue(key, out int i)) { value = _entries[i].Value; return true; }
        value = null;
        return false;
    }

    private static readonly object NoneKey = new();

    private sealed class KeyComparer : IEqualityComparer<object>
    {
        public static readonly KeyComparer Instance = new();
        public new bool Equals(object? x, object? y)
        {
            if (ReferenceEquals(x, y)) return true;
            if (x is null || y is null) return false;
            if (x is byte[] bx && y is byte[] by) return bx.AsSpan().SequenceEqual(by);
            if (IsPrimitive(x) && IsPrimitive(y)) return x.Equals(y);
            return false;
        }

        public int GetHashCode(object obj) => obj switch
        {
            byte[] b => b.Length,
            _ when IsPrimitive(obj) => obj.GetHashCode(),
            _ => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj),
        };

        private static bool IsPrimitive(object o) => o is string or long or double or bool or BigInteger;
    }
}

/// <summary>
/// A global (module attribute) the allow-list admitted. <see cref="Call"/> is the C# behaviour of
/// calling it (REDUCE/NEWOBJ/INST/OBJ); null means it is a value that cannot be called.
/// </summary>
internal sealed class PyGlobal
{
    public PyGlobal(string module, string name, Func<PyTuple, object?>? call = null, object? tag = null)
    {
        Module = module;
        Name = name;
        Call = call;
        Tag = tag;
    }

    public string Module { get; }
    public string Name { get; }
    public string FullName => Module + "." + Name;
    public Func<PyTuple, object?>? Call { get; }
    /// <summary>Data attached by the allow-list (a storage type, a dtype, ...).</summary>
    public object? Tag { get; }
    public override string ToString() => FullName;
}

/// <summary>
/// Limits that keep a hostile or corrupt pickle from exhausting memory or time. Each opcode consumes at
/// least one input byte, so work is linear in the pickle's size; these bound the rest.
/// </summary>
internal static class PickleLimits
{
    /// <summary>Largest pickle read into memory (a VGG-16 state_dict's data.pkl is about 3 KiB).</summary>
    public const long MaxPickleBytes = 64L << 20;
    /// <summary>
    /// Most containers, tuples and strings one pickle may create: two input bytes can create a list of
    /// about 100 bytes, so this bounds memory at about 1 GiB whatever the input.
    /// </summary>
    public const int MaxObjects = 10_000_000;
    /// <summary>Most memo entries.</summary>
    public const int MaxMemo = 4_000_000;
    /// <summary>Most items on the stack plus marks.</summary>
    public const int MaxStack = 4_000_000;
    /// <summary>Longest text line (GLOBAL names, INT, FLOAT, PERSID).</summary>
    public const int MaxLine = 64 * 1024;
    /// <summary>Most bytes of a LONG1/LONG4 integer.</summary>
    public const int MaxLongBytes = 1024;
}

/// <summary>
/// Runs one pickle (until STOP) from a seekable stream, from its current position up to
/// <c>end</c>. Never executes Python: globals go through <c>findClass</c>, persistent ids through
/// <c>persistentLoad</c>; both are supplied by the caller and throw on anything not allowed.
/// </summary>
internal sealed class PickleMachine
{
    private readonly Stream _s;
    private readonly long _end;
    private readonly string? _file;
    private readonly string _what;
    private readonly Func<string, string, object> _findClass;
    private readonly Func<object?, object?>? _persistentLoad;
    private readonly List<object?> _stack = new();
    private readonly List<int> _marks = new();
    private readonly Dictionary<long, object?> _memo = new();
    private long _opPos;
    private byte _op;
    private int _created;

    /// <param name="stream">Seekable stream positioned at the pickle's first byte.</param>
    /// <param name="end">Position the pickle must not read past.</param>
    /// <param name="file">File name for error messages.</param>
    /// <param name="what">What is being read ("archive/data.pkl", "sys_info pickle"), for error messages.</param>
    /// <param name="findClass">Resolves (module, name) to an allowed value; throws <see cref="UnsafePickleException"/> otherwise.</param>
    /// <param name="persistentLoad">Resolves a persistent id; null when the pickle must not contain any.</param>
    public PickleMachine(Stream stream, long end, string? file, string what,
        Func<string, string, object> findClass, Func<object?, object?>? persistentLoad)
    {
        _s = stream;
        _end = end;
        _file = file;
        _what = what;
        _findClass = findClass;
        _persistentLoad = persistentLoad;
    }

    /// <summary>Runs one pickle to its STOP opcode and returns its value; the stream is left after STOP.</summary>
    /// <exception cref="ModelFormatException">Truncated or malformed pickle, a limit exceeded, or a refused global.</exception>
    public object? Load()
    {
        _stack.Clear();
        _marks.Clear();
        _memo.Clear();
        _created = 0;
        while (true)
        {
            _opPos = _s.Position;
            _op = ReadByte();
            if (_op == (byte)'.')
            {
                if (_stack.Count == 0) throw Fail("STOP with an empty stack (stack underflow)");
                return _stack[^1];
            }
            Dispatch(_op);
            if (_stack.Count + _marks.Count > PickleLimits.MaxStack)
                throw Fail($"more than {PickleLimits.MaxStack} items on the pickle stack");
        }
    }

    /// <summary>A ModelFormatException naming the file, the pickle, the byte offset and the opcode.</summary>
    private ModelFormatException Fail(string problem, Exception? inner = null) =>
        new(_file, _what, $"malformed pickle at byte {_opPos} (opcode 0x{_op:x2} '{(char)(_op is >= 32 and < 127 ? _op : (byte)'?')}'): {problem}", inner);

    private void Dispatch(byte op)
    {
        switch (op)
        {
            // ---- structure
            case 0x80: // PROTO
                {
                    int p = ReadByte();
                    if (p > 5) throw Fail($"pickle protocol {p} is newer than 5, the highest known");
                    return;
                }
            case 0x95: // FRAME: 8-byte length; frames are a buffering hint only
                ReadExact(8);
                return;
            case (byte)'(': // MARK
                _marks.Add(_stack.Count);
                return;
            case (byte)'0': // POP
                if (_stack.Count > 0 && (_marks.Count == 0 || _marks[^1] < _stack.Count)) Pop();
                else if (_marks.Count > 0 && _marks[^1] == _stack.Count) _marks.RemoveAt(_marks.Count - 1); // POP of a mark (pickle.py: pop_mark semantics)
                else throw Fail("stack underflow");
                return;
            case (byte)'1': // POP_MARK
                PopMark();
                return;
            case (byte)'2': // DUP
                Push(Peek());
                return;

            // ---- scalars
            case (byte)'N': Push(null); return;
            case 0x88: Push(true); return;  // NEWTRUE
            case 0x89: Push(false); return; // NEWFALSE
            case (byte)'I': // INT (text); "I01\n" and "I00\n" are True/False in protocol 0
                {
                    string line = ReadLine();
                    if (line == "01") Push(true);
                    else if (line == "00") Push(false);
                    else Push(ParseInteger(line));
                    return;
                }
            case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(ReadExact(4))); return; // BININT
            case (byte)'K': Push((long)ReadByte()); return; // BININT1
            case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadExact(2))); return; // BININT2
            case (byte)'L': // LONG (text, trailing 'L' in protocol 0 of Python 2)
                {
                    string line = ReadLine();
                    if (line.EndsWith('L')) line = line[..^1];
                    Push(ParseInteger(line));
                    return;
                }
            case 0x8a: Push(DecodeLong(ReadExact(ReadByte()))); return; // LONG1
            case 0x8b: // LONG4
                {
                    int n = BinaryPrimitives.ReadInt32LittleEndian(ReadExact(4));
                    if (n < 0 || n > PickleLimits.MaxLongBytes) throw Fail($"LONG4 of {n} bytes (limit {PickleLimits.MaxLongBytes})");
                    Push(DecodeLong(ReadExact(n)));
                    return;
                }
            case (byte)'F': // FLOAT (text)
                {
                    string line = ReadLine();
                    if (!double.TryParse(line, NumberStyles.Float, CultureInfo.InvariantCulture, out double d))
                    {
                        d = line.Trim().ToLowerInvariant() switch
                        {
                            "nan" => double.NaN,
                            "inf" => double.PositiveInfinity,
                            "-inf" => double.NegativeInfinity,
                            _ => throw Fail($"FLOAT '{line}' is not a number"),
                        };
                    }
                    Push(d);
                    return;
                }
            case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(ReadExact(8))); return; // BINFLOAT

            // ---- strings and bytes
            case (byte)'S': Push(DecodeQuoted(ReadLine())); return; // STRING (protocol 0 repr)
            case (byte)'T': Push(Utf8(ReadExact(ReadLength32("BINSTRING", signed: true)))); return; // BINSTRING (Python 2 str)
            case (byte)'U': Push(Utf8(ReadExact(ReadByte()))); return; // SHORT_BINSTRING
            case (byte)'V': Push(DecodeRawUnicodeEscape(ReadLine())); return; // UNICODE
            case (byte)'X': Push(Utf8(ReadExact(ReadLength32("BINUNICODE")))); return; // BINUNICODE
            case 0x8c: Push(Utf8(ReadExact(ReadByte()))); return; // SHORT_BINUNICODE
            case 0x8d: Push(Utf8(ReadExact(ReadLength64("BINUNICODE8")))); return; // BINUNICODE8
            case (byte)'B': Push(ReadExact(ReadLength32("BINBYTES")).ToArray()); return; // BINBYTES
            case (byte)'C': Push(ReadExact(ReadByte()).ToArray()); return; // SHORT_BINBYTES
            case 0x8e: Push(ReadExact(ReadLength64("BINBYTES8")).ToArray()); return; // BINBYTES8
            case 0x96: Push(ReadExact(ReadLength64("BYTEARRAY8")).ToArray()); return; // BYTEARRAY8

            // ---- containers
            case (byte)')': Push(PyTuple.Empty); return; // EMPTY_TUPLE
            case (byte)'t': Push(new PyTuple(PopMark().ToArray())); return; // TUPLE
            case 0x85: { var a = Pop(); Push(new PyTuple(new[] { a })); return; } // TUPLE1
            case 0x86: { var b = Pop(); var a = Pop(); Push(new PyTuple(new[] { a, b })); return; } // TUPLE2
            case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new PyTuple(new[] { a, b, c })); return; } // TUPLE3
            case (byte)']': Push(new PyList()); return; // EMPTY_LIST
            case (byte)'l': // LIST
                {
                    var l = new PyList();
                    l.Items.AddRange(PopMark());
                    Push(l);
                    return;
                }
            case (byte)'a': { var v = Pop(); As<PyList>(Peek(), "APPEND target").Items.Add(v); return; } // APPEND
            case (byte)'e': // APPENDS
                {
                    var items = PopMark();
                    As<PyList>(Peek(), "APPENDS target").Items.AddRange(items);
                    return;
                }
            case (byte)'}': Push(new PyDict(ordered: false)); return; // EMPTY_DICT
            case (byte)'d': // DICT
                {
                    var items = PopMark();
                    if (items.Count % 2 != 0) throw Fail("DICT with an odd number of items");
                    var d = new PyDict(ordered: false);
                    for (int i = 0; i < items.Count; i += 2) d.Set(items[i], items[i + 1]);
                    Push(d);
                    return;
                }
            case (byte)'s': // SETITEM
                {
                    var v = Pop();
                    var k = Pop();
                    As<PyDict>(Peek(), "SETITEM target").Set(k, v);
                    return;
                }
            case (byte)'u': // SETITEMS
                {
                    var items = PopMark();
                    if (items.Count % 2 != 0) throw Fail("SETITEMS with an odd number of items");
                    var d = As<PyDict>(Peek(), "SETITEMS target");
                    for (int i = 0; i < items.Count; i += 2) d.Set(items[i], items[i + 1]);
                    return;
                }
            case 0x8f: Push(new PySet()); return; // EMPTY_SET
            case 0x90: // ADDITEMS
                {
                    var items = PopMark();
                    As<PySet>(Peek(), "ADDITEMS target").Items.AddRange(items);
                    return;
                }
            case 0x91: // FROZENSET
                {
                    var s = new PySet();
                    s.Items.AddRange(PopMark());
                    Push(s);
                    return;
                }

            // ---- memo
            case (byte)'p': MemoPut(ParseMemoIndex(ReadLine())); return; // PUT
            case (byte)'q': MemoPut(ReadByte()); return; // BINPUT
            case (byte)'r': MemoPut(BinaryPrimitives.ReadUInt32LittleEndian(ReadExact(4))); return; // LONG_BINPUT
            case 0x94: MemoPut(_memo.Count); return; // MEMOIZE
            case (byte)'g': MemoGet(ParseMemoIndex(ReadLine())); return; // GET
            case (byte)'h': MemoGet(ReadByte()); return; // BINGET
            case (byte)'j': MemoGet(BinaryPrimitives.ReadUInt32LittleEndian(ReadExact(4))); return; // LONG_BINGET

            // ---- globals and calls (through the allow-list only)
            case (byte)'c': // GLOBAL
                {
                    string module = ReadLine();
                    string name = ReadLine();
                    Push(_findClass(module, name));
                    return;
                }
            case 0x93: // STACK_GLOBAL
                {
                    var name = Pop();
                    var module = Pop();
                    if (module is not string m || name is not string n) throw Fail("STACK_GLOBAL needs two strings");
                    Push(_findClass(m, n));
                    return;
                }
            case (byte)'R': // REDUCE
                {
                    var args = Pop();
                    var callable = Pop();
                    Push(Call(callable, As<PyTuple>(args, "REDUCE arguments")));
                    return;
                }
            case 0x81: // NEWOBJ: cls.__new__(cls, *args); our allowed classes construct the same way as a call
                {
                    var args = Pop();
                    var cls = Pop();
                    Push(Call(cls, As<PyTuple>(args, "NEWOBJ arguments")));
                    return;
                }
            case 0x92: // NEWOBJ_EX
                {
                    var kwargs = Pop();
                    var args = Pop();
                    var cls = Pop();
                    if (kwargs is not PyDict kw || kw.Count != 0) throw Fail("NEWOBJ_EX with keyword arguments is not supported");
                    Push(Call(cls, As<PyTuple>(args, "NEWOBJ_EX arguments")));
                    return;
                }
            case (byte)'i': // INST: module\nname\n, arguments since the mark
                {
                    string module = ReadLine();
                    string name = ReadLine();
                    var cls = _findClass(module, name);
                    var args = PopMark();
                    Push(Call(cls, new PyTuple(args.ToArray())));
                    return;
                }
            case (byte)'o': // OBJ: class and arguments since the mark
                {
                    var items = PopMark();
                    if (items.Count == 0) throw Fail("OBJ without a class");
                    Push(Call(items[0], new PyTuple(items.Skip(1).ToArray())));
                    return;
                }
            case (byte)'b': // BUILD: state applied to the object below it
                {
                    var state = Pop();
                    var target = Peek();
                    Build(target, state);
                    return;
                }

            // ---- persistent ids (torch storages)
            case (byte)'P': // PERSID (text)
                Push(PersistentLoad(ReadLine()));
                return;
            case (byte)'Q': // BINPERSID
                Push(PersistentLoad(Pop()));
                return;

            case 0x82 or 0x83 or 0x84:
                throw Fail("extension-registry opcodes (EXT1/EXT2/EXT4) are not used by torch.save and are not supported");
            case 0x97 or 0x98:
                throw Fail("out-of-band buffers (NEXT_BUFFER/READONLY_BUFFER) are not used by torch.save and are not supported");
            default:
                throw Fail("unknown opcode");
        }
    }

    private object? Call(object? callable, PyTuple args)
    {
        if (callable is PyGlobal g)
        {
            if (g.Call is null) throw Fail($"'{g.FullName}' is called but is not callable here");
            try
            {
                return g.Call(args);
            }
            catch (ModelFormatException) { throw; }
            catch (Exception e) when (e is InvalidCastException or ArgumentException or IndexOutOfRangeException or OverflowException or FormatException)
            {
                throw Fail($"bad arguments to '{g.FullName}': {e.Message}", e);
            }
        }
        throw Fail($"call of a {Describe(callable)}, which is not an allowed callable");
    }

    private void Build(object? target, object? state)
    {
        switch (target)
        {
            case PyDict d:
                // OrderedDict.__reduce__ gives vars(od) as state: a state_dict's _metadata lives here.
                if (state is PyDict attrs) { d.Attributes = attrs; return; }
                if (state is null) return;
                throw Fail($"BUILD of a dict with a {Describe(state)} state");
            case TorchTensorRef:
                // Tensor state (torch._utils._set_obj_state / tensor subclasses): Python attributes only, no data.
                return;
            default:
                throw Fail($"BUILD on a {Describe(target)}; only dicts and tensors accept state");
        }
    }

    private object? PersistentLoad(object? pid)
    {
        if (_persistentLoad is null) throw Fail("a persistent id where none is expected");
        try
        {
            return _persistentLoad(pid);
        }
        catch (ModelFormatException) { throw; }
        catch (Exception e) when (e is InvalidCastException or ArgumentException or IndexOutOfRangeException or OverflowException or FormatException or KeyNotFoundException)
        {
            throw Fail($"bad persistent id {Describe(pid)}: {e.Message}", e);
        }
    }

    /// <summary>Python type name of a value, for messages.</summary>
    internal static string Describe(object? o) => o switch
    {
        null => "None",
        bool => "bool",
        long or BigInteger => "int",
        double => "float",
        string => "str",
        byte[] => "bytes",
        PyTuple => "tuple",
        PyList => "list",
        PyDict d => d.IsOrderedDict ? "OrderedDict" : "dict",
        PySet => "set",
        PyGlobal g => $"global '{g.FullName}'",
        TorchTensorRef => "tensor",
        TorchStorageRef => "storage",
        _ => o.GetType().Name,
    };

    private T As<T>(object? o, string what) where T : class =>
        o as T ?? throw Fail($"{what} is a {Describe(o)}, expected a {typeof(T).Name switch { "PyTuple" => "tuple", "PyList" => "list", "PyDict" => "dict", "PySet" => "set", var n => n }}");

    private void Push(object? o)
    {
        if (o is not null and not bool and not long and not double && ++_created > PickleLimits.MaxObjects)
            throw Fail($"the pickle creates more than {PickleLimits.MaxObjects} objects");
        _stack.Add(o);
    }

    private object? Pop()
    {
        int floor = _marks.Count > 0 ? _marks[^1] : 0;
        if (_stack.Count <= floor) throw Fail("stack underflow");
        var o = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return o;
    }

    private object? Peek()
    {
        int floor = _marks.Count > 0 ? _marks[^1] : 0;
        if (_stack.Count <= floor) throw Fail("stack underflow");
        return _stack[^1];
    }

    private List<object?> PopMark()
    {
        if (_marks.Count == 0) throw Fail("no MARK on the stack");
        int m = _marks[^1];
        _marks.RemoveAt(_marks.Count - 1);
        var items = _stack.GetRange(m, _stack.Count - m);
        _stack.RemoveRange(m, _stack.Count - m);
        return items;
    }

    private void MemoPut(long index)
    {
        if (_memo.Count >= PickleLimits.MaxMemo && !_memo.ContainsKey(index))
            throw Fail($"more than {PickleLimits.MaxMemo} memo entries");
        _memo[index] = Peek();
    }

    private void MemoGet(long index)
    {
        if (!_memo.TryGetValue(index, out var v)) throw Fail($"memo key {index} was never stored");
        Push(v);
    }

    private long ParseMemoIndex(string line) =>
        long.TryParse(line, NumberStyles.Integer, CultureInfo.InvariantCulture, out long i) && i >= 0 ? i : throw Fail($"memo index '{line}' is not a number");

    private object ParseInteger(string text)
    {
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l)) return l;
        if (text.Length <= 4096 && BigInteger.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var b)) return b;
        throw Fail($"'{(text.Length > 40 ? text[..40] + "..." : text)}' is not an integer");
    }

    /// <summary>Two's complement little-endian integer (pickle's LONG1/LONG4 encoding); long when it fits.</summary>
    private static object DecodeLong(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0) return 0L;
        var b = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
        return b >= long.MinValue && b <= long.MaxValue ? (object)(long)b : b;
    }

    private byte ReadByte()
    {
        if (_s.Position >= _end) throw Truncated(1);
        int b = _s.ReadByte();
        if (b < 0) throw Truncated(1);
        return (byte)b;
    }

    /// <summary>
    /// A 4-byte little-endian length, unsigned as CPython's pickle reads it for BINUNICODE and BINBYTES ('&lt;I');
    /// signed for BINSTRING ('&lt;i', where CPython refuses a negative count). Checked against the bytes left.
    /// </summary>
    private int ReadLength32(string opcode, bool signed = false)
    {
        var b = ReadExact(4);
        long n = signed ? BinaryPrimitives.ReadInt32LittleEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b);
        if (n < 0) throw Fail($"{opcode} byte count {n} is negative");
        return CheckLength(opcode, (ulong)n);
    }

    /// <summary>An 8-byte little-endian unsigned length ('&lt;Q'), checked against the bytes left.</summary>
    private int ReadLength64(string opcode) => CheckLength(opcode, BinaryPrimitives.ReadUInt64LittleEndian(ReadExact(8)));

    private int CheckLength(string opcode, ulong n)
    {
        long left = _end - _s.Position;
        if (n > (ulong)Math.Max(0, left))
            throw Fail($"{opcode} length {n} exceeds the remaining {left} bytes: the pickle ends early (corrupt or truncated file)");
        if (n > int.MaxValue) throw Fail($"{opcode} length {n} is more than one buffer can hold");
        return (int)n;
    }

    /// <summary>Reads exactly n bytes; checks n against what is left before allocating.</summary>
    private byte[] ReadExact(int n)
    {
        long left = _end - _s.Position;
        if (n > left) throw Truncated(n);
        var buf = new byte[n];
        _s.ReadExactly(buf);
        return buf;
    }

    private string ReadLine()
    {
        var sb = new StringBuilder();
        while (true)
        {
            byte b = ReadByte();
            if (b == (byte)'\n') break;
            if (sb.Length >= PickleLimits.MaxLine) throw Fail($"text line longer than {PickleLimits.MaxLine} bytes");
            sb.Append((char)b);
        }
        // Lines are ASCII in every protocol; decode any high bytes as UTF-8 to be safe.
        var s = sb.ToString();
        if (s.Any(c => c > 127)) s = Encoding.UTF8.GetString(s.Select(c => (byte)c).ToArray());
        return s.EndsWith('\r') ? s[..^1] : s;
    }

    private ModelFormatException Truncated(long wanted) =>
        Fail($"the pickle ends early: {wanted} more byte(s) needed at byte {_s.Position}, the data ends at {_end} (truncated file?)");

    private string Utf8(byte[] bytes)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            // torch.load decodes Python 2 str with encoding='utf-8' too and fails the same way.
            throw Fail("a string that is not valid UTF-8", e);
        }
    }

    /// <summary>Protocol 0 STRING: a quoted Python 2 repr with backslash escapes.</summary>
    private string DecodeQuoted(string rep)
    {
        if (rep.Length < 2 || rep[0] != rep[^1] || (rep[0] != '\'' && rep[0] != '"'))
            throw Fail("STRING argument is not a quoted string");
        var body = rep[1..^1];
        var bytes = new List<byte>(body.Length);
        for (int i = 0; i < body.Length; i++)
        {
            char c = body[i];
            if (c != '\\' || i + 1 >= body.Length) { bytes.Add((byte)c); continue; }
            char e = body[++i];
            switch (e)
            {
                case 'n': bytes.Add((byte)'\n'); break;
                case 'r': bytes.Add((byte)'\r'); break;
                case 't': bytes.Add((byte)'\t'); break;
                case '0' or '1' or '2' or '3' or '4' or '5' or '6' or '7':
                    {
                        int v = 0, k = 0;
                        while (k < 3 && i < body.Length && body[i] is >= '0' and <= '7') { v = v * 8 + (body[i] - '0'); i++; k++; }
                        i--;
                        bytes.Add((byte)v);
                        break;
                    }
                case 'x':
                    if (i + 2 < body.Length + 0 && byte.TryParse(body.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out byte h))
                    {
                        bytes.Add(h);
                        i += 2;
                    }
                    else throw Fail("bad \\x escape in STRING");
                    break;
                default: bytes.Add((byte)e); break; // \\ \' \"
            }
        }
        return Utf8(bytes.ToArray());
    }

    /// <summary>Protocol 0 UNICODE: raw-unicode-escape (only \uXXXX and \UXXXXXXXX are escapes).</summary>
    private string DecodeRawUnicodeEscape(string s)
    {
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 5 < s.Length + 0 && s[i + 1] == 'u' &&
                int.TryParse(s.AsSpan(i + 2, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int u))
            {
                sb.Append((char)u);
                i += 5;
            }
            else if (s[i] == '\\' && i + 9 < s.Length + 0 && s[i + 1] == 'U' &&
                int.TryParse(s.AsSpan(i + 2, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int U) && U is >= 0 and <= 0x10FFFF)
            {
                sb.Append(char.ConvertFromUtf32(U));
                i += 9;
            }
            else sb.Append(s[i]);
        }
        return sb.ToString();
    }
}
