namespace Vgg.Engine.Models;

/// <summary>How the resize step sizes the image (torchvision.transforms.Resize semantics).</summary>
public enum ResizeMode
{
    /// <summary>No resize.</summary>
    None,
    /// <summary>Resize(int): the shorter side becomes <see cref="Preprocessing.ResizeHeight"/>, the aspect ratio is kept (the longer side is truncated: int(size·long/short)).</summary>
    ShorterSide,
    /// <summary>Resize((h, w)): exactly <see cref="Preprocessing.ResizeHeight"/> × <see cref="Preprocessing.ResizeWidth"/>.</summary>
    Exact,
}

/// <summary>Colour handling before ToTensor.</summary>
public enum ColorMode
{
    /// <summary>Convert to 3-channel RGB (PIL <c>convert("RGB")</c>): grayscale is replicated, CMYK converted, alpha dropped.</summary>
    Rgb,
    /// <summary>Convert to 1-channel luminance (PIL <c>convert("L")</c>: L = R·299/1000 + G·587/1000 + B·114/1000).</summary>
    Grayscale,
}

/// <summary>
/// The torchvision-equivalent input pipeline a model expects: decode, colour conversion, optional EXIF
/// orientation, Resize (bilinear, antialiased as PIL does it), CenterCrop, ToTensor (values / 255, CHW),
/// Normalize ((x − mean) / std per channel). Defaults are the ImageNet pipeline of torchvision's VGG weights:
/// Resize(256), CenterCrop(224), mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).
/// </summary>
public sealed record Preprocessing
{
    public ColorMode Color { get; init; } = ColorMode.Rgb;
    public ResizeMode Resize { get; init; } = ResizeMode.ShorterSide;
    /// <summary>Target height in pixels (the shorter side for <see cref="ResizeMode.ShorterSide"/>).</summary>
    public int ResizeHeight { get; init; } = 256;
    /// <summary>Target width in pixels for <see cref="ResizeMode.Exact"/>.</summary>
    public int ResizeWidth { get; init; } = 256;
    /// <summary>CenterCrop height, or 0 for no crop. A crop larger than the resized image is padded with zeros (before
    /// Normalize), as torchvision's CenterCrop pads.</summary>
    public int CropHeight { get; init; } = 224;
    /// <summary>CenterCrop width, or 0 for no crop.</summary>
    public int CropWidth { get; init; } = 224;
    /// <summary>Per-channel mean subtracted after ToTensor (one value per channel, or one for all), or null for no normalization.</summary>
    public float[]? Mean { get; init; } = { 0.485f, 0.456f, 0.406f };
    /// <summary>Per-channel standard deviation divided after the mean (one value per channel, or one for all), or null for no normalization.</summary>
    public float[]? Std { get; init; } = { 0.229f, 0.224f, 0.225f };
    /// <summary>
    /// Rotate/flip by the EXIF Orientation tag before anything else (as PIL's <c>ImageOps.exif_transpose</c>).
    /// Off by default, as torchvision's PIL path does not apply it (PIL's Image.open ignores EXIF orientation,
    /// so a model trained through ImageFolder saw camera JPEGs as stored, possibly sideways).
    /// </summary>
    public bool ApplyExifOrientation { get; init; }

    /// <summary>Channels of the produced tensor.</summary>
    public int Channels => Color == ColorMode.Rgb ? 3 : 1;

    /// <summary>ImageNet pipeline: Resize(256), CenterCrop(224), ImageNet mean and std.</summary>
    public static Preprocessing ImageNet { get; } = new();

    /// <summary>Resize(size) then CenterCrop(crop) with ImageNet normalization (e.g. 512/512 for the seed guide's large inputs).</summary>
    public static Preprocessing ImageNetAt(int resize, int crop) => new() { ResizeHeight = resize, ResizeWidth = resize, CropHeight = crop, CropWidth = crop };

    /// <summary>
    /// torchvision's ImageNet recipe (Resize(256), CenterCrop(224), ImageNet mean and std) scaled to an input of
    /// <paramref name="height"/> × <paramref name="width"/>: the shorter side resized to round(max(H, W)·256/224), then
    /// CenterCrop(H, W). For a square input this is Resize(round(size·256/224)), CenterCrop(size) (224 → 256/224); for a
    /// non-square one, sizing by the longer side keeps the crop inside the resized image whatever the photo's aspect
    /// ratio (sizing by the shorter side would pad a square photo with zeros, as torchvision's CenterCrop does).
    /// </summary>
    /// <param name="height">Crop height in pixels (≥ 1).</param>
    /// <param name="width">Crop width in pixels (≥ 1).</param>
    /// <exception cref="ArgumentOutOfRangeException">A size below 1.</exception>
    public static Preprocessing ImageNetFor(int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        int resize = (int)Math.Round(Math.Max(height, width) * 256.0 / 224.0);
        return new() { ResizeHeight = resize, ResizeWidth = resize, CropHeight = height, CropWidth = width };
    }

    /// <summary>TinyVGG (pizza/steak/sushi): RGB, Resize((64, 64)), no crop, ToTensor only (no normalization).</summary>
    public static Preprocessing TinyVgg { get; } = new()
    {
        Resize = ResizeMode.Exact, ResizeHeight = 64, ResizeWidth = 64, CropHeight = 0, CropWidth = 0, Mean = null, Std = null,
    };

    /// <summary>
    /// MNIST CNN: grayscale (L), 28×28 (Resize((28, 28)), which leaves a 28×28 digit untouched), Normalize((0.1307,), (0.3081,)).
    /// </summary>
    public static Preprocessing Mnist { get; } = new()
    {
        Color = ColorMode.Grayscale, Resize = ResizeMode.Exact, ResizeHeight = 28, ResizeWidth = 28, CropHeight = 0, CropWidth = 0,
        Mean = new[] { 0.1307f }, Std = new[] { 0.3081f },
    };

    /// <summary>Checks that the settings describe a pipeline torchvision would accept.</summary>
    /// <exception cref="ArgumentException">A non-positive resize size, a crop with one side 0 and the other not, a
    /// negative crop, Mean without Std (or the reverse), Mean/Std whose length is neither 1 nor <see cref="Channels"/>,
    /// or a zero or non-finite std.</exception>
    public void Validate()
    {
        if (Resize == ResizeMode.ShorterSide && ResizeHeight <= 0)
            throw new ArgumentException($"Resize(size) needs a positive size, got {ResizeHeight}");
        if (Resize == ResizeMode.Exact && (ResizeHeight <= 0 || ResizeWidth <= 0))
            throw new ArgumentException($"Resize((h, w)) needs a positive size, got ({ResizeHeight}, {ResizeWidth})");
        if (CropHeight < 0 || CropWidth < 0 || (CropHeight == 0) != (CropWidth == 0))
            throw new ArgumentException($"CenterCrop needs both sides positive, or both 0 for no crop; got ({CropHeight}, {CropWidth})");
        if ((Mean is null) != (Std is null))
            throw new ArgumentException("Normalize needs both Mean and Std (or neither)");
        if (Mean is not null && Std is not null)
        {
            string expected = Channels == 1 ? $"1 ({Color} has one channel)" : $"1 or {Channels} (one per {Color} channel)";
            if (Mean.Length is not 1 && Mean.Length != Channels)
                throw new ArgumentException($"Mean has {Mean.Length} values; expected {expected}");
            if (Std.Length is not 1 && Std.Length != Channels)
                throw new ArgumentException($"Std has {Std.Length} values; expected {expected}");
            foreach (var s in Std)
                if (s == 0 || !float.IsFinite(s))
                    throw new ArgumentException($"Std values must be finite and non-zero, got {s}");
        }
    }

    /// <summary>The settings as torchvision would write the pipeline, e.g. "RGB, Resize(256), CenterCrop(224), ToTensor, Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])".</summary>
    public override string ToString()
    {
        var ci = System.Globalization.CultureInfo.InvariantCulture;
        static string List(float[] v) => "[" + string.Join(", ", v.Select(x => x.ToString("G6", System.Globalization.CultureInfo.InvariantCulture))) + "]";
        var parts = new List<string> { Color.ToString() };
        parts.Add(Resize == ResizeMode.ShorterSide ? string.Create(ci, $"Resize({ResizeHeight})") : string.Create(ci, $"Resize(({ResizeHeight}, {ResizeWidth}))"));
        if (CropHeight > 0) parts.Add(CropHeight == CropWidth ? string.Create(ci, $"CenterCrop({CropHeight})") : string.Create(ci, $"CenterCrop(({CropHeight}, {CropWidth}))"));
        parts.Add("ToTensor");
        if (Mean is not null && Std is not null) parts.Add($"Normalize(mean={List(Mean)}, std={List(Std)})");
        if (ApplyExifOrientation) parts.Add("(EXIF orientation applied)");
        return string.Join(", ", parts);
    }
}
