using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Numerics;
using System.Text;

namespace Vgg.Engine.Loader.Checkpoints;

/// <summary>
/// The unpickled object of a torch checkpoint and where its storages' bytes are. Storages are read
/// only when a tensor of the state dict needs them (optimizer state and other metadata are never read).
/// </summary>
internal abstract class TorchCheckpoint : IDisposable
{
    protected TorchCheckpoint(string path, string format)
    {
        Path = path;
        Format = format;
    }

    public string Path { get; }
    /// <summary>"pytorch-zip", "pytorch-legacy" or "pytorch-tar" (<see cref="Vgg.Engine.Models.StateDict.Format"/>).</summary>
    public string Format { get; }
    /// <summary>The unpickled top-level object.</summary>
    public object? Root { get; protected set; }
    /// <summary>Storage data is big-endian (zip "byteorder" record, legacy sys_info little_endian=False).</summary>
    public bool BigEndian { get; protected set; }

    /// <summary>
    /// The little-endian bytes of a root storage, exactly <see cref="TorchStorageRef.ByteCount"/> long.
    /// </summary>
    /// <exception cref="ModelFormatException">The data is missing or shorter than the storage.</exception>
    public byte[] ReadStorage(TorchStorageRef root)
    {
        var bytes = ReadStorageCore(root);
        if (BigEndian && root.Type.ElementSize > 1) SwapBytes(bytes, root.Type.ElementSize);
        return bytes;
    }

    /// <summary>Reads a root storage; implementations check the file's claims before allocating.</summary>
    protected abstract byte[] ReadStorageCore(TorchStorageRef root);

    /// <summary>A buffer for a storage whose data was found to lie inside the file.</summary>
    protected byte[] AllocateStorage(TorchStorageRef root) => root.ByteCount <= Array.MaxLength
        ? new byte[root.ByteCount]
        : throw new ModelFormatException(Path, root.Key, $"storage of {root.ByteCount} bytes is larger than one buffer can hold ({Array.MaxLength} bytes)");

    public virtual void Dispose() { }

    private static void SwapBytes(byte[] data, int elementSize)
    {
        for (int i = 0; i + elementSize <= data.Length; i += elementSize)
            data.AsSpan(i, elementSize).Reverse();
    }

    /// <summary>Reads exactly buffer.Length bytes at <paramref name="offset"/> of a seekable stream.</summary>
    protected static void ReadAt(Stream s, long offset, byte[] buffer, string path, string key)
    {
        if (offset + buffer.LongLength > s.Length)
            throw new ModelFormatException(path, key, $"the data of {buffer.LongLength} bytes at offset {offset} runs past the end of the file ({s.Length} bytes): the file is truncated");
        s.Position = offset;
        s.ReadExactly(buffer);
    }
}

/// <summary>
/// torch.save's zip container (PyTorch ≥ 1.6, torch/serialization.py <c>_save</c>/<c>_load</c>):
/// <c>&lt;name&gt;/data.pkl</c> (pickle protocol 2), <c>&lt;name&gt;/data/&lt;key&gt;</c> (raw storage bytes),
/// <c>&lt;name&gt;/version</c>, and since 2.1 <c>&lt;name&gt;/byteorder</c>. The archive folder name is free.
/// </summary>
internal sealed class TorchZipCheckpoint : TorchCheckpoint
{
    private readonly ZipArchive _zip;
    private readonly string _prefix;
    private readonly long _fileLength;
    private readonly Dictionary<string, TorchStorageRef> _storages = new(StringComparer.Ordinal);

    /// <summary>Largest deflate expansion we accept for a compressed storage entry (deflate's limit is about 1032:1).</summary>
    private const long MaxDeflateRatio = 1100;

    private TorchZipCheckpoint(string path, ZipArchive zip, string prefix, long fileLength) : base(path, "pytorch-zip")
    {
        _zip = zip;
        _prefix = prefix;
        _fileLength = fileLength;
    }

    /// <summary>Version record of the archive ("3"), when present.</summary>
    public string? Version { get; private set; }

    /// <summary>The archive folder name (the part before "/data.pkl").</summary>
    public string ArchiveName => _prefix;

    public static TorchZipCheckpoint Open(string path, Stream stream)
    {
        ZipArchive zip;
        try
        {
            zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw new ModelFormatException(path, null,
                $"truncated or corrupt zip archive: {e.Message} A PyTorch checkpoint is a zip whose directory is at the end of the file; a download or copy that was cut short loses it. Fetch the file again.", e);
        }

        try
        {
            var entries = zip.Entries;
            foreach (var e in entries)
            {
                var n = e.FullName;
                if (n.StartsWith('/') || n.StartsWith('\\') || n.Contains('\\') || (n.Length > 1 && n[1] == ':') ||
                    n.Split('/').Any(seg => seg == ".."))
                    throw new ModelFormatException(path, n, "a zip entry name points outside the archive (absolute path or '..'); refusing the file");
            }

            var pickles = entries.Where(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.IndexOf('/') == e.FullName.Length - "/data.pkl".Length).ToList();
            if (pickles.Count == 0)
            {
                if (entries.Any(e => e.FullName == "data.pkl"))
                    pickles = entries.Where(e => e.FullName == "data.pkl").ToList();
                else
                    throw new ModelFormatException(path, null,
                        $"a zip archive without a '<name>/data.pkl' entry, so not a torch.save checkpoint (entries: {string.Join(", ", entries.Take(8).Select(e => e.FullName))}{(entries.Count > 8 ? ", ..." : "")})");
            }
            if (pickles.Count > 1)
                throw new ModelFormatException(path, null, $"the zip archive holds {pickles.Count} data.pkl entries ({string.Join(", ", pickles.Select(p => p.FullName))}); expected one");
            var pkl = pickles[0];
            string prefix = pkl.FullName.Length > "data.pkl".Length ? pkl.FullName[..^"/data.pkl".Length] : "";
            string P(string rel) => prefix.Length == 0 ? rel : prefix + "/" + rel;

            if (zip.GetEntry(P("constants.pkl")) is not null)
                throw new ModelFormatException(path, null,
                    "this is a TorchScript archive (torch.jit.save: it has constants.pkl and code/), not a torch.save checkpoint. Save the weights with torch.save(model.state_dict(), path) and load that.");

            var ck = new TorchZipCheckpoint(path, zip, prefix, stream.Length);
            if (zip.GetEntry(P("version")) is { } ver) ck.Version = ck.ReadSmallText(ver, 64).Trim();
            if (zip.GetEntry(P("byteorder")) is { } bo)
            {
                var order = ck.ReadSmallText(bo, 64).Trim();
                ck.BigEndian = order switch
                {
                    "little" => false,
                    "big" => true,
                    _ => throw new ModelFormatException(path, bo.FullName, $"byteorder record says '{order}', expected 'little' or 'big'"),
                };
            }

            if (pkl.Length > PickleLimits.MaxPickleBytes)
                throw new ModelFormatException(path, pkl.FullName, $"the pickle is {pkl.Length} bytes, more than the {PickleLimits.MaxPickleBytes}-byte limit");
            var pickleBytes = ck.ReadEntry(pkl, pkl.Length);
            using var ms = new MemoryStream(pickleBytes, writable: false);
            var vm = new PickleMachine(ms, ms.Length, path, pkl.FullName,
                (m, n) => TorchPickle.FindClass(path, m, n), ck.PersistentLoad);
            ck.Root = vm.Load();
            return ck;
        }
        catch
        {
            zip.Dispose();
            throw;
        }
    }

    /// <summary>torch/serialization.py _load.persistent_load: ('storage', storage_type, key, location, numel).</summary>
    private object? PersistentLoad(object? pid)
    {
        if (pid is not PyTuple { Count: >= 5 } t || TorchPickle.KeyString(t[0]) != "storage")
            throw new ArgumentException("expected ('storage', storage_type, key, location, numel)");
        var type = TorchPickle.StorageTypeOf(t[1]);
        string key = TorchPickle.KeyString(t[2]);
        long numel = TorchPickle.ToLong(t[4], "numel");
        if (numel < 0) throw new ArgumentException($"negative numel {numel}");
        if (key.Length == 0 || key.Any(c => c == '/' || c == '\\') || key == "..")
            throw new ArgumentException($"storage key '{key}' is not a record name");
        if (!_storages.TryGetValue(key, out var s))
        {
            s = new TorchStorageRef(key, type, numel);
            _storages[key] = s;
        }
        return s;
    }

    protected override byte[] ReadStorageCore(TorchStorageRef root)
    {
        string name = (_prefix.Length == 0 ? "" : _prefix + "/") + "data/" + root.Key;
        var entry = _zip.GetEntry(name)
            ?? throw new ModelFormatException(Path, name, $"the pickle refers to storage '{root.Key}' ({root.Type.Name}, {root.Numel} elements) but the archive has no entry '{name}'");
        if (entry.Length < root.ByteCount)
            throw new ModelFormatException(Path, name, $"storage entry holds {entry.Length} bytes, the pickle says {root.Numel} elements of {root.Type.Name} = {root.ByteCount} bytes");
        return ReadEntry(entry, root.ByteCount);
    }

    /// <summary>Reads the first <paramref name="count"/> bytes of an entry, with sizes checked against the file first.</summary>
    private byte[] ReadEntry(ZipArchiveEntry entry, long count)
    {
        long plausible = entry.CompressedLength == entry.Length ? _fileLength : entry.CompressedLength * MaxDeflateRatio;
        if (entry.CompressedLength > _fileLength || count > plausible)
            throw new ModelFormatException(Path, entry.FullName,
                $"the zip directory says this entry holds {entry.Length} bytes ({entry.CompressedLength} stored), more than a {_fileLength}-byte file can hold: corrupt or truncated archive");
        if (count > Array.MaxLength)
            throw new ModelFormatException(Path, entry.FullName, $"{count} bytes is more than one buffer can hold");
        var buf = new byte[count];
        uint crc;
        try
        {
            using var s = entry.Open();
            s.ReadExactly(buf);
            crc = count == entry.Length ? Crc32.HashToUInt32(buf) : RestOfCrc(s, buf);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException and not FileNotFoundException)
        {
            throw new ModelFormatException(Path, entry.FullName, $"cannot read the entry ({e.Message}): truncated or corrupt archive", e);
        }
        // ZipArchive does not check the CRC-32 of stored entries (torch.save stores storages uncompressed), so a
        // flipped bit would load as a wrong weight; Python's zipfile checks it on read. CRC-32 runs at several GB/s.
        if (crc != entry.Crc32)
            throw new ModelFormatException(Path, entry.FullName,
                $"CRC-32 mismatch: the zip directory records 0x{entry.Crc32:x8} for this entry's {entry.Length} bytes, the data gives 0x{crc:x8}: the file is corrupt (a damaged download or copy, or bit rot); fetch it again");
        return buf;
    }

    /// <summary>CRC-32 of the whole entry when only its first bytes were needed: hashes those and reads the rest.</summary>
    private static uint RestOfCrc(Stream s, byte[] head)
    {
        var crc = new Crc32();
        crc.Append(head);
        var scratch = new byte[1 << 16];
        int n;
        while ((n = s.Read(scratch)) > 0) crc.Append(scratch.AsSpan(0, n));
        return crc.GetCurrentHashAsUInt32();
    }

    private string ReadSmallText(ZipArchiveEntry e, int max)
    {
        if (e.Length > max) throw new ModelFormatException(Path, e.FullName, $"record of {e.Length} bytes, expected a short text");
        return Encoding.ASCII.GetString(ReadEntry(e, e.Length));
    }

    public override void Dispose() => _zip.Dispose();
}

/// <summary>
/// torch's legacy stream format (PyTorch 0.4 to 1.5, and <c>_use_new_zipfile_serialization=False</c>;
/// torch/serialization.py <c>_legacy_save</c>): pickles of the magic number 0x1950a86a20f9469cfc6c,
/// the protocol version 1001 and sys_info, then the object pickle (storages as persistent ids
/// <c>('storage', storage_type, key, location, numel, view_metadata)</c>), then the list of storage keys,
/// then each storage's data prefixed by its element count as a little-endian int64.
/// </summary>
internal sealed class TorchLegacyCheckpoint : TorchCheckpoint
{
    /// <summary>torch/serialization.py MAGIC_NUMBER.</summary>
    public static readonly BigInteger MagicNumber = BigInteger.Parse("1950a86a20f9469cfc6c", System.Globalization.NumberStyles.HexNumber);
    /// <summary>torch/serialization.py PROTOCOL_VERSION.</summary>
    public const long ProtocolVersion = 1001;

    private readonly Stream _s;
    private readonly Dictionary<string, TorchStorageRef> _storages = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _dataOffsets = new(StringComparer.Ordinal);

    private TorchLegacyCheckpoint(string path, Stream s) : base(path, "pytorch-legacy") => _s = s;

    /// <summary>True when the first pickle of <paramref name="head"/> is the magic number (any pickle protocol).</summary>
    public static bool LooksLikeLegacy(byte[] head)
    {
        // Protocol 2+ starts with PROTO; protocols 0 and 1 write the magic number as a text LONG.
        if (head.Length < 4 || (head[0] != 0x80 && head[0] != (byte)'L')) return false;
        try
        {
            using var ms = new MemoryStream(head, writable: false);
            var v = new PickleMachine(ms, ms.Length, null, "magic number", (m, n) => throw new UnsafePickleException(null, m + "." + n), null).Load();
            return v is BigInteger b && b == MagicNumber;
        }
        catch (ModelFormatException)
        {
            return false;
        }
    }

    public static TorchLegacyCheckpoint Open(string path, Stream s)
    {
        var ck = new TorchLegacyCheckpoint(path, s);
        s.Position = 0;
        object NoGlobals(string m, string n) => throw new UnsafePickleException(path, m + "." + n);
        object? magic = new PickleMachine(s, s.Length, path, "magic number pickle", NoGlobals, null).Load();
        if (magic is not BigInteger b || b != MagicNumber)
            throw new ModelFormatException(path, null, $"legacy torch file without the magic number 0x1950a86a20f9469cfc6c (found {PickleMachine.Describe(magic)}): corrupt file?");
        object? proto = new PickleMachine(s, s.Length, path, "protocol version pickle", NoGlobals, null).Load();
        if (proto is not long p || p != ProtocolVersion)
            throw new ModelFormatException(path, null, $"legacy torch protocol version {proto}, expected {ProtocolVersion}");
        object? sysInfo = new PickleMachine(s, s.Length, path, "sys_info pickle", NoGlobals, null).Load();
        ck.BigEndian = ReadSysInfo(path, sysInfo);

        ck.Root = new PickleMachine(s, s.Length, path, "object pickle", (m, n) => TorchPickle.FindClass(path, m, n), ck.PersistentLoad).Load();
        object? keys = new PickleMachine(s, s.Length, path, "storage key list", NoGlobals, null).Load();
        if (keys is not PyList kl) throw new ModelFormatException(path, null, $"the storage key list is a {PickleMachine.Describe(keys)}, expected a list");

        // Storages follow in key-list order: int64 element count, then count * element size bytes.
        long pos = s.Position;
        var count = new byte[8];
        foreach (var k in kl.Items)
        {
            string key = k as string ?? throw new ModelFormatException(path, null, $"a storage key is a {PickleMachine.Describe(k)}, expected str");
            if (!ck._storages.TryGetValue(key, out var st))
                throw new ModelFormatException(path, key, "the storage key list names a storage the object pickle never referred to");
            ReadAt(s, pos, count, path, key);
            long n = BinaryPrimitives.ReadInt64LittleEndian(count);
            if (ck.BigEndian) n = BinaryPrimitives.ReadInt64BigEndian(count);
            if (n != st.Numel)
                throw new ModelFormatException(path, key, $"storage has {n} elements in the data section, the pickle says {st.Numel} ({st.Type.Name})");
            long bytes = st.ByteCount;
            if (pos + 8 + bytes > s.Length)
                throw new ModelFormatException(path, key, $"storage data of {bytes} bytes at offset {pos + 8} runs past the end of the file ({s.Length} bytes): the file is truncated");
            ck._dataOffsets[key] = pos + 8;
            pos += 8 + bytes;
        }
        return ck;
    }

    /// <summary>sys_info: {'protocol_version': 1001, 'little_endian': bool, 'type_sizes': {...}}; returns big-endian.</summary>
    internal static bool ReadSysInfo(string path, object? sysInfo)
    {
        if (sysInfo is not PyDict d) throw new ModelFormatException(path, "sys_info", $"sys_info is a {PickleMachine.Describe(sysInfo)}, expected a dict");
        return d.TryGet("little_endian", out var le) && le is false;
    }

    /// <summary>torch/serialization.py _legacy_load.persistent_load.</summary>
    private object? PersistentLoad(object? pid)
    {
        if (pid is not PyTuple { Count: >= 1 } t) throw new ArgumentException("expected a tuple");
        string kind = TorchPickle.KeyString(t[0]);
        if (kind == "module")
            throw new UnsafePickleException(Path, t.Count > 1 && t[1] is PyGlobal g ? g.FullName : "a pickled nn.Module");
        if (kind != "storage" || t.Count < 6) throw new ArgumentException("expected ('storage', storage_type, root_key, location, numel, view_metadata)");
        var type = TorchPickle.StorageTypeOf(t[1]);
        string rootKey = TorchPickle.KeyString(t[2]);
        long numel = TorchPickle.ToLong(t[4], "numel");
        if (numel < 0) throw new ArgumentException($"negative numel {numel}");
        if (!_storages.TryGetValue(rootKey, out var root))
        {
            root = new TorchStorageRef(rootKey, type, numel);
            _storages[rootKey] = root;
        }
        if (t[5] is PyTuple { Count: 3 } view)
        {
            // Storage views written by PyTorch < 1.0: (view_key, offset, view_size), both in elements.
            string viewKey = TorchPickle.KeyString(view[0]);
            long off = TorchPickle.ToLong(view[1], "view offset");
            long size = TorchPickle.ToLong(view[2], "view size");
            if (off < 0 || size < 0 || off + size > root.Numel)
                throw new ModelFormatException(Path, viewKey, $"storage view of {size} elements at offset {off} does not fit in storage '{rootKey}' of {root.Numel} elements");
            return new TorchStorageRef(viewKey, root.Type, size, root, off);
        }
        if (t[5] is not null) throw new ArgumentException($"view_metadata is a {PickleMachine.Describe(t[5])}");
        return root;
    }

    protected override byte[] ReadStorageCore(TorchStorageRef root)
    {
        if (!_dataOffsets.TryGetValue(root.Key, out long off))
            throw new ModelFormatException(Path, root.Key, "the object pickle refers to this storage but the storage key list does not name it, so its data is not in the file");
        var buf = AllocateStorage(root);
        ReadAt(_s, off, buf, Path, root.Key);
        return buf;
    }
}

/// <summary>
/// The tar format of PyTorch before 0.4 (torch/serialization.py <c>_legacy_load.legacy_load</c>): a
/// PAX tar with members <c>sys_info</c> (pickle), <c>pickle</c> (the object; tensors and storages are
/// persistent ids holding their integer key as a string), <c>tensors</c> (count, then per tensor a pickle
/// (key, storage_key, tensor_type), int32 ndim, 4 padding bytes, ndim int64 sizes, ndim int64 strides,
/// int64 storage offset) and <c>storages</c> (count, then per storage a pickle (key, location,
/// storage_type), int64 element count and the data; then a pickle of views (view_key, root_key, offset, numel)).
/// </summary>
internal sealed class TorchTarCheckpoint : TorchCheckpoint
{
    private readonly Stream _s;
    private readonly Dictionary<string, TorchStorageRef> _storages = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _dataOffsets = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TorchTensorRef> _tensors = new(StringComparer.Ordinal);

    private TorchTarCheckpoint(string path, Stream s) : base(path, "pytorch-tar") => _s = s;

    /// <summary>POSIX ustar magic at offset 257.</summary>
    public static bool LooksLikeTar(ReadOnlySpan<byte> head) =>
        head.Length >= 263 && head.Slice(257, 5).SequenceEqual("ustar"u8);

    public static TorchTarCheckpoint Open(string path, Stream s)
    {
        var members = TarIndex.Read(path, s);
        (long off, long size) Member(string name) => members.TryGetValue(name, out var m)
            ? m
            : throw new ModelFormatException(path, name, $"tar archive without a '{name}' member; a torch tar checkpoint has sys_info, pickle, tensors and storages (members: {string.Join(", ", members.Keys.Take(8))})");
        var ck = new TorchTarCheckpoint(path, s);
        object NoGlobals(string m, string n) => throw new UnsafePickleException(path, m + "." + n);
        object Globals(string m, string n) => TorchPickle.FindClass(path, m, n);

        var (siOff, siSize) = Member("sys_info");
        s.Position = siOff;
        ck.BigEndian = TorchLegacyCheckpoint.ReadSysInfo(path, new PickleMachine(s, siOff + siSize, path, "sys_info", NoGlobals, null).Load());

        // storages
        var (stOff, stSize) = Member("storages");
        long stEnd = stOff + stSize;
        s.Position = stOff;
        long nStorages = TorchPickle.ToLong(new PickleMachine(s, stEnd, path, "storages", NoGlobals, null).Load() is long n0 ? n0 : -1, "storage count");
        if (nStorages < 0 || nStorages > stSize) throw new ModelFormatException(path, "storages", $"storage count {nStorages} is impossible for a member of {stSize} bytes");
        var eight = new byte[8];
        for (long i = 0; i < nStorages; i++)
        {
            var rec = new PickleMachine(s, stEnd, path, "storages", Globals, null).Load();
            if (rec is not PyTuple { Count: 3 } r) throw new ModelFormatException(path, "storages", $"storage record is a {PickleMachine.Describe(rec)}, expected (key, location, storage_type)");
            string key = Key(path, r[0]);
            TorchStorageType type;
            try { type = TorchPickle.StorageTypeOf(r[2]); }
            catch (ArgumentException e) { throw new ModelFormatException(path, key, e.Message); }
            long pos = s.Position;
            if (pos + 8 > stEnd) throw new ModelFormatException(path, key, "the storages member ends before the storage's element count");
            ReadAt(s, pos, eight, path, key);
            long numel = ck.BigEndian ? BinaryPrimitives.ReadInt64BigEndian(eight) : BinaryPrimitives.ReadInt64LittleEndian(eight);
            if (numel < 0 || numel > (stEnd - pos - 8) / type.ElementSize)
                throw new ModelFormatException(path, key, $"storage of {numel} elements of {type.Name} does not fit in the {stEnd - pos - 8} bytes left in the storages member");
            var st = new TorchStorageRef(key, type, numel);
            ck._storages[key] = st;
            ck._dataOffsets[key] = pos + 8;
            s.Position = pos + 8 + st.ByteCount;
        }
        var views = new PickleMachine(s, stEnd, path, "storages", NoGlobals, null).Load();
        if (views is PyList vl)
        {
            foreach (var v in vl.Items)
            {
                if (v is not PyTuple { Count: 4 } vt) throw new ModelFormatException(path, "storages", "storage view record is not (view_key, root_key, offset, numel)");
                string viewKey = Key(path, vt[0]), rootKey = Key(path, vt[1]);
                if (!ck._storages.TryGetValue(rootKey, out var root)) throw new ModelFormatException(path, viewKey, $"storage view of unknown root storage '{rootKey}'");
                long off = vt[2] is long o ? o : -1, cnt = vt[3] is long c ? c : -1;
                if (off < 0 || cnt < 0 || off + cnt > root.Numel)
                    throw new ModelFormatException(path, viewKey, $"storage view of {cnt} elements at offset {off} does not fit in storage '{rootKey}' of {root.Numel} elements");
                ck._storages[viewKey] = new TorchStorageRef(viewKey, root.Type, cnt, root, off);
            }
        }

        // tensors
        var (tOff, tSize) = Member("tensors");
        long tEnd = tOff + tSize;
        s.Position = tOff;
        long nTensors = new PickleMachine(s, tEnd, path, "tensors", NoGlobals, null).Load() is long n1 ? n1 : -1;
        if (nTensors < 0 || nTensors > tSize) throw new ModelFormatException(path, "tensors", $"tensor count {nTensors} is impossible for a member of {tSize} bytes");
        for (long i = 0; i < nTensors; i++)
        {
            var rec = new PickleMachine(s, tEnd, path, "tensors", Globals, null).Load();
            if (rec is not PyTuple { Count: 3 } r) throw new ModelFormatException(path, "tensors", $"tensor record is a {PickleMachine.Describe(rec)}, expected (key, storage_key, tensor_type)");
            string key = Key(path, r[0]);
            string storageKey = Key(path, r[1]);
            if (!ck._storages.TryGetValue(storageKey, out var st)) throw new ModelFormatException(path, key, $"tensor refers to storage '{storageKey}', which the storages member does not hold");
            long pos = s.Position;
            if (pos + 8 > tEnd) throw new ModelFormatException(path, key, "the tensors member ends inside a tensor header");
            ReadAt(s, pos, eight, path, key);
            int ndim = BinaryPrimitives.ReadInt32LittleEndian(eight);
            if (ndim < 0 || ndim > TensorMaterializer.MaxRank || pos + 8 + 16L * ndim + 8 > tEnd)
                throw new ModelFormatException(path, key, $"tensor header with {ndim} dimensions does not fit in the tensors member");
            var meta = new byte[16 * ndim + 8];
            ReadAt(s, pos + 8, meta, path, key);
            var size = new long[ndim];
            var stride = new long[ndim];
            for (int d = 0; d < ndim; d++)
            {
                size[d] = BinaryPrimitives.ReadInt64LittleEndian(meta.AsSpan(8 * d));
                stride[d] = BinaryPrimitives.ReadInt64LittleEndian(meta.AsSpan(8 * (ndim + d)));
            }
            long offset = BinaryPrimitives.ReadInt64LittleEndian(meta.AsSpan(16 * ndim));
            ck._tensors[key] = new TorchTensorRef(st, offset, size, stride);
            s.Position = pos + 8 + meta.Length;
        }

        // the object
        var (pOff, pSize) = Member("pickle");
        s.Position = pOff;
        ck.Root = new PickleMachine(s, pOff + pSize, path, "pickle", Globals, ck.PersistentLoad).Load();
        return ck;
    }

    private static string Key(string path, object? o) => o switch
    {
        long l => l.ToString(System.Globalization.CultureInfo.InvariantCulture),
        string s => s,
        _ => throw new ModelFormatException(path, null, $"a tensor or storage key is a {PickleMachine.Describe(o)}, expected an int"),
    };

    /// <summary>_legacy_load.legacy_load.persistent_load: a tuple is a pickled module class; else int(saved_id).</summary>
    private object? PersistentLoad(object? pid)
    {
        if (pid is PyTuple t)
            throw new UnsafePickleException(Path, t.Count > 0 && t[0] is PyGlobal g ? g.FullName : "a pickled nn.Module");
        string key = pid switch
        {
            string s => s.Trim(),
            long l => l.ToString(System.Globalization.CultureInfo.InvariantCulture),
            _ => throw new ArgumentException("expected a tensor or storage key"),
        };
        if (_tensors.TryGetValue(key, out var tensor)) return tensor;
        if (_storages.TryGetValue(key, out var storage)) return storage;
        throw new ModelFormatException(Path, key, "the pickle refers to a tensor or storage that the tensors and storages members do not hold");
    }

    protected override byte[] ReadStorageCore(TorchStorageRef root)
    {
        var buf = AllocateStorage(root);
        ReadAt(_s, _dataOffsets[root.Key], buf, Path, root.Key);
        return buf;
    }

    /// <summary>Minimal reader of a tar's member table (ustar and PAX size/path records).</summary>
    private static class TarIndex
    {
        public static Dictionary<string, (long off, long size)> Read(string path, Stream s)
        {
            var result = new Dictionary<string, (long, long)>(StringComparer.Ordinal);
            var block = new byte[512];
            long pos = 0;
            string? paxPath = null;
            long? paxSize = null;
            int guard = 0;
            while (pos + 512 <= s.Length)
            {
                if (++guard > 100_000) throw new ModelFormatException(path, null, "tar archive with more than 100000 members");
                ReadAt(s, pos, block, path, "tar header");
                if (block.All(b => b == 0)) break;
                VerifyChecksum(path, block, pos);
                string name = CString(block.AsSpan(0, 100));
                string prefix = CString(block.AsSpan(345, 155));
                if (prefix.Length > 0) name = prefix + "/" + name;
                long size = ParseNumber(path, block.AsSpan(124, 12));
                char type = (char)block[156];
                long dataOff = pos + 512;
                if (size < 0 || dataOff + size > s.Length)
                    throw new ModelFormatException(path, name, $"tar member of {size} bytes at offset {dataOff} runs past the end of the file ({s.Length} bytes): truncated archive");
                if (type == 'x' || type == 'g')
                {
                    if (size > 1 << 20) throw new ModelFormatException(path, name, "PAX header larger than 1 MiB");
                    var rec = new byte[size];
                    ReadAt(s, dataOff, rec, path, name);
                    if (type == 'x') ParsePax(rec, ref paxPath, ref paxSize);
                }
                else
                {
                    if (paxSize is long ps) size = ps;
                    if (paxPath is not null) name = paxPath;
                    paxPath = null;
                    paxSize = null;
                    if (dataOff + size > s.Length)
                        throw new ModelFormatException(path, name, "tar member runs past the end of the file: truncated archive");
                    if (type is '0' or '\0') result[name] = (dataOff, size);
                }
                pos = dataOff + (size + 511) / 512 * 512;
            }
            return result;
        }

        private static void VerifyChecksum(string path, byte[] block, long pos)
        {
            long stored = ParseNumber(path, block.AsSpan(148, 8));
            long sum = 0;
            for (int i = 0; i < 512; i++) sum += i is >= 148 and < 156 ? (byte)' ' : block[i];
            if (sum != stored) throw new ModelFormatException(path, null, $"tar header at offset {pos} has a bad checksum (corrupt archive)");
        }

        private static void ParsePax(byte[] rec, ref string? paxPath, ref long? paxSize)
        {
            // Records: "<len> <key>=<value>\n"
            int i = 0;
            while (i < rec.Length)
            {
                int sp = Array.IndexOf(rec, (byte)' ', i);
                if (sp < 0) break;
                if (!int.TryParse(Encoding.ASCII.GetString(rec, i, sp - i), out int len) || len <= 0 || i + len > rec.Length) break;
                var kv = Encoding.UTF8.GetString(rec, sp + 1, i + len - sp - 2);
                int eq = kv.IndexOf('=');
                if (eq > 0)
                {
                    var k = kv[..eq];
                    var v = kv[(eq + 1)..];
                    if (k == "path") paxPath = v;
                    else if (k == "size" && long.TryParse(v, out long sz)) paxSize = sz;
                }
                i += len;
            }
        }

        private static string CString(ReadOnlySpan<byte> b)
        {
            int z = b.IndexOf((byte)0);
            return Encoding.UTF8.GetString(z < 0 ? b : b[..z]);
        }

        private static long ParseNumber(string path, ReadOnlySpan<byte> f)
        {
            if ((f[0] & 0x80) != 0)
            {
                // GNU base-256 for large sizes.
                long v = f[0] & 0x7F;
                for (int i = 1; i < f.Length; i++) v = checked(v * 256 + f[i]);
                return v;
            }
            long r = 0;
            foreach (byte c in f)
            {
                if (c == 0 || c == ' ') { if (r > 0) break; else continue; }
                if (c < '0' || c > '7') throw new ModelFormatException(path, null, "tar header with a non-octal number field (corrupt archive)");
                r = checked(r * 8 + (c - '0'));
            }
            return r;
        }
    }
}
