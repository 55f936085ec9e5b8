namespace Vgg.Engine.Loader.Onnx;

/// <summary>
/// Version history of the default-domain (ai.onnx) operators the importer knows, and the rule that
/// picks the operator version a model binds to: an operator in a model importing opset N is the
/// version with the highest since-version ≤ N (onnx/docs/Versioning.md, "operator sets").
/// </summary>
/// <remarks>
/// <para>Sources, checked per operator: the schemas of onnx 1.12 (opsets 1–17, <c>onnx.defs</c>),
/// <c>onnx/defs/operator_sets.h</c> (opsets 18–23) and the ONNX 1.19/1.20 release notes (opset 24: the
/// FLOAT8E8M0 type added to Cast, Constant, ConstantOfShape, DequantizeLinear, Flatten, Identity,
/// QuantizeLinear, Reshape, Shape, Squeeze, Unsqueeze, ...; opset 25: the 2-bit types added to the same list).</para>
/// <para>Policy for opsets outside 7–21 (the range the issue names): a model is accepted when every node
/// resolves to an operator version whose semantics the importer implements. Versions 22–25 of the operators
/// here only widen the type lists (bfloat16, float8, 4-bit and 2-bit types) or add attributes the importer
/// checks by name (Cast <c>round_mode</c>, QuantizeLinear <c>precision</c>, DequantizeLinear <c>output_dtype</c>),
/// so they import with the same meaning; a tensor of a new type is refused by its dtype. Below 7, the
/// legacy forms the importer implements (Add/Mul-6 <c>broadcast</c>/<c>axis</c>, Gemm-6 <c>broadcast</c>,
/// BatchNormalization-6 <c>is_test</c>/<c>spatial</c>, Dropout-6 <c>is_test</c>, AveragePool-1 without
/// <c>count_include_pad</c>, ...) import; version-1 forms with <c>consumed_inputs</c> or a string <c>to</c>
/// (Relu-1, Add-1, Cast-1, Reshape-1, ...) are refused by name. Opsets above <see cref="MaxKnownOpset"/>
/// are refused as a whole: an operator may have a newer version there whose meaning the importer cannot know.</para>
/// </remarks>
public static class OnnxOpsets
{
    /// <summary>The newest default-domain opset whose operator versions this table records.</summary>
    public const int MaxKnownOpset = 25;

    /// <summary>The opset range the engine is specified for (issue: "opsets 7 to 21").</summary>
    public const int MinSpecifiedOpset = 7, MaxSpecifiedOpset = 21;

    private static readonly Dictionary<string, int[]> Since = new(StringComparer.Ordinal)
    {
        ["Abs"] = new[] { 1, 6, 13 },
        ["Add"] = new[] { 1, 6, 7, 13, 14 },
        ["AveragePool"] = new[] { 1, 7, 10, 11, 19, 22 },
        ["BatchNormalization"] = new[] { 1, 6, 7, 9, 14, 15 },
        ["Cast"] = new[] { 1, 6, 9, 13, 19, 21, 23, 24, 25 },
        ["Concat"] = new[] { 1, 4, 11, 13 },
        ["Constant"] = new[] { 1, 9, 11, 12, 13, 19, 21, 23, 24, 25 },
        ["ConstantOfShape"] = new[] { 9, 20, 21, 23, 24, 25 },
        ["Conv"] = new[] { 1, 11, 22 },
        ["DequantizeLinear"] = new[] { 10, 13, 19, 21, 23, 24, 25 },
        ["Div"] = new[] { 1, 6, 7, 13, 14 },
        ["Dropout"] = new[] { 1, 6, 7, 10, 12, 13, 22 },
        ["Exp"] = new[] { 1, 6, 13 },
        ["Flatten"] = new[] { 1, 9, 11, 13, 21, 23, 24, 25 },
        ["Gather"] = new[] { 1, 11, 13 },
        ["Gemm"] = new[] { 1, 6, 7, 9, 11, 13 },
        ["GlobalAveragePool"] = new[] { 1, 22 },
        ["GlobalMaxPool"] = new[] { 1, 22 },
        ["Identity"] = new[] { 1, 13, 14, 16, 19, 21, 23, 24, 25 },
        ["LogSoftmax"] = new[] { 1, 11, 13 },
        ["MatMul"] = new[] { 1, 9, 13 },
        ["MaxPool"] = new[] { 1, 8, 10, 11, 12, 22 },
        ["Mul"] = new[] { 1, 6, 7, 13, 14 },
        ["Neg"] = new[] { 1, 6, 13 },
        ["QuantizeLinear"] = new[] { 10, 13, 19, 21, 23, 24, 25 },
        ["ReduceMean"] = new[] { 1, 11, 13, 18 },
        ["Relu"] = new[] { 1, 6, 13, 14 },
        ["Reshape"] = new[] { 1, 5, 13, 14, 19, 21, 23, 24, 25 },
        ["Shape"] = new[] { 1, 13, 15, 19, 21, 23, 24, 25 },
        ["Sigmoid"] = new[] { 1, 6, 13 },
        ["Softmax"] = new[] { 1, 11, 13 },
        ["Sqrt"] = new[] { 1, 6, 13 },
        ["Squeeze"] = new[] { 1, 11, 13, 21, 23, 24, 25 },
        ["Sub"] = new[] { 1, 6, 7, 13, 14 },
        ["Tanh"] = new[] { 1, 6, 13 },
        ["Unsqueeze"] = new[] { 1, 11, 13, 21, 23, 24, 25 },
    };

    /// <summary>True when the table knows <paramref name="opType"/> (default domain).</summary>
    public static bool IsKnown(string opType) => Since.ContainsKey(opType);

    /// <summary>
    /// The version of <paramref name="opType"/> that a model importing default-domain opset
    /// <paramref name="opset"/> binds to, or null when the operator does not exist yet at that opset
    /// or is not in the table.
    /// </summary>
    public static int? ResolveVersion(string opType, int opset)
    {
        if (!Since.TryGetValue(opType, out var versions)) return null;
        int? v = null;
        foreach (var s in versions)
            if (s <= opset) v = s;
        return v;
    }

    /// <summary>The recorded since-versions of <paramref name="opType"/>, oldest first (empty when unknown).</summary>
    public static IReadOnlyList<int> Versions(string opType) => Since.TryGetValue(opType, out var v) ? v : Array.Empty<int>();

    /// <summary>
    /// The ONNX IR version released together with <paramref name="opset"/> (onnx/docs/Versioning.md, release
    /// table: opset 13 and 14 → IR 7, 15–18 → 8, 19–20 → 9, 21–22 → 10, 23 → 11), written by the exporter.
    /// </summary>
    public static int IrVersionFor(int opset) => opset switch
    {
        <= 8 => 3,
        9 => 4,
        10 => 5,
        11 => 6,
        <= 14 => 7,
        <= 18 => 8,
        <= 20 => 9,
        <= 22 => 10,
        _ => 11,
    };
}
