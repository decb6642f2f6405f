namespace Snapstone.Domain.Packages;

public enum Severity { Error, Warning, Info }

/// <summary>One finding of a validator: the rule, how bad, and a message naming the limit and the value.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.Finding")]
public sealed record Finding(
    [property: Id(0)] string Rule,
    [property: Id(1)] Severity Severity,
    [property: Id(2)] string Message,
    [property: Id(3)] double? Limit = null,
    [property: Id(4)] double? Value = null);

/// <summary>The outcome of all validators: passed when no finding is an error.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.ValidationReport")]
public sealed record ValidationReport([property: Id(0)] IReadOnlyList<Finding> Findings)
{
    public bool Passed => Findings.All(f => f.Severity != Severity.Error);
}

/// <summary>What the validators and the risk assessment need to know about one package's content.</summary>
[GenerateSerializer, Immutable, Alias("snapstone.ContentShape")]
public sealed record ContentShape
{
    [Id(0)] public long SizeBytes { get; init; }
    /// <summary>Items at the unit's <c>maxItems</c> path, when the unit declares one and the path resolves.</summary>
    [Id(1)] public int? ItemCount { get; init; }
    /// <summary>Keys of the content: top-level property names, and the string ids of items at the items path.</summary>
    [Id(2)] public IReadOnlyList<string> Keys { get; init; } = [];
    [Id(3)] public bool Parsed { get; init; }
}
