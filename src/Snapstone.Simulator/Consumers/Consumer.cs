namespace Snapstone.Simulator.Consumers;

/// <summary>
/// The software on a node that reads one unit's packages. It judges a package by its bytes alone; what
/// differs between nodes (e.g. only <c>proxy=fl1</c> nodes hit a code path) is carried in the
/// <see cref="PackageEffect"/>, so one reading serves every node that takes the same package.
/// </summary>
public interface IConsumer
{
    /// <summary>A short description for logs and summaries, e.g. <c>features(fail-closed, max 200)</c>.</summary>
    string Describe();

    ConsumerOutcome Consume(ReadOnlySpan<byte> content);
}

public enum ConsumerVerdict
{
    /// <summary>The node runs the package, with its effect on traffic.</summary>
    Applied,

    /// <summary>The node refuses the package, keeps its old one and stays healthy (fail stale).</summary>
    Rejected,

    /// <summary>The node runs the package and crashes on it, again after every restart (fail closed).</summary>
    Crashed,
}

public sealed record ConsumerOutcome(ConsumerVerdict Verdict, PackageEffect Effect, string? Error)
{
    public static ConsumerOutcome Applied(PackageEffect effect) => new(ConsumerVerdict.Applied, effect, null);
    public static ConsumerOutcome Rejected(string error) => new(ConsumerVerdict.Rejected, PackageEffect.None, error);
    public static ConsumerOutcome Crashed(string error) => new(ConsumerVerdict.Crashed, PackageEffect.None, error);
}

/// <summary>A label value that singles out some nodes, e.g. <c>proxy=fl1</c>.</summary>
public sealed record LabelMatch(string Key, string Value)
{
    public bool Matches(IReadOnlyDictionary<string, string> labels) =>
        labels.TryGetValue(Key, out var value) && value == Value;

    public override string ToString() => $"{Key}={Value}";
}

/// <summary>
/// What running a package does to a node's traffic: a share of requests answered with errors (only on
/// nodes matching <see cref="OnlyWhere"/> when set) and latency added to every request.
/// </summary>
public sealed record PackageEffect(double ErrorShare = 0, LabelMatch? OnlyWhere = null, double ExtraLatencyMs = 0)
{
    public static readonly PackageEffect None = new();

    public double ErrorShareOn(IReadOnlyDictionary<string, string> labels) =>
        OnlyWhere is null || OnlyWhere.Matches(labels) ? ErrorShare : 0;
}
