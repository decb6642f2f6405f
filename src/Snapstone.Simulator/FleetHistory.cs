namespace Snapstone.Simulator;

/// <summary>
/// Everything the nodes did with packages, in order, and the questions that measure whether a rollout
/// failed small: who ever ran a version (blast radius), when nodes first crashed or refused, and when
/// they were back on a good version (time to safe). Safe to read while the fleet runs.
/// </summary>
public sealed class FleetHistory
{
    private readonly object _sync = new();
    private readonly List<NodeChange> _changes = [];
    private readonly Dictionary<(string Unit, long Version), HashSet<string>> _everApplied = new();
    private readonly Dictionary<(string Unit, long Version), HashSet<string>> _everRejected = new();
    private readonly Dictionary<string, List<NodeChange>> _byNode = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _firstCrash = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _firstRejection = new(StringComparer.Ordinal);
    private readonly List<DateTimeOffset> _rounds = [];

    /// <summary>Notes that a report round started at <paramref name="at"/>; rounds start in time order.</summary>
    internal void RoundStarted(DateTimeOffset at)
    {
        lock (_sync)
        {
            _rounds.Add(at);
        }
    }

    /// <summary>
    /// The start of the first report round at or after <paramref name="at"/>: when what the nodes did at that moment
    /// first reached Snapstone. Null when no round has started since. Worked example: rounds at 10.0 s, 11.0 s and
    /// 12.0 s, a canary takes a package at 10.3 s → 11.0 s, the round whose report says it runs (or crashed on) it.
    /// </summary>
    public DateTimeOffset? FirstRoundAt(DateTimeOffset at)
    {
        lock (_sync)
        {
            var index = _rounds.BinarySearch(at);
            index = index >= 0 ? index : ~index;
            return index < _rounds.Count ? _rounds[index] : null;
        }
    }

    internal void Record(NodeChange change)
    {
        lock (_sync)
        {
            _changes.Add(change);
            if (!_byNode.TryGetValue(change.Node, out var ofNode))
            {
                _byNode[change.Node] = ofNode = [];
            }
            ofNode.Add(change);
            switch (change.Kind)
            {
                case NodeChangeKind.Applied:
                    Add(_everApplied, (change.Unit, change.Version), change.Node);
                    break;
                case NodeChangeKind.Rejected:
                    Add(_everRejected, (change.Unit, change.Version), change.Node);
                    _firstRejection.TryAdd(change.Node, change.At);
                    break;
                case NodeChangeKind.Crashed:
                    _firstCrash.TryAdd(change.Node, change.At);
                    break;
            }
        }
    }

    /// <summary>Every change so far, oldest first.</summary>
    public IReadOnlyList<NodeChange> Changes()
    {
        lock (_sync)
        {
            return _changes.ToArray();
        }
    }

    /// <summary>Nodes that ever ran (or crashed on) this version: the blast radius of a bad package.</summary>
    public IReadOnlySet<string> NodesEverApplied(string unit, long version)
    {
        lock (_sync)
        {
            return _everApplied.TryGetValue((unit, version), out var nodes) ? nodes.ToHashSet() : new HashSet<string>();
        }
    }

    /// <summary>Nodes that ever refused this version.</summary>
    public IReadOnlySet<string> NodesEverRejected(string unit, long version)
    {
        lock (_sync)
        {
            return _everRejected.TryGetValue((unit, version), out var nodes) ? nodes.ToHashSet() : new HashSet<string>();
        }
    }

    public DateTimeOffset? FirstCrashAt(string node)
    {
        lock (_sync)
        {
            return _firstCrash.TryGetValue(node, out var at) ? at : null;
        }
    }

    public DateTimeOffset? FirstRejectionAt(string node)
    {
        lock (_sync)
        {
            return _firstRejection.TryGetValue(node, out var at) ? at : null;
        }
    }

    /// <summary>The first time any node applied, refused or crashed on this version; null if none did.</summary>
    public DateTimeOffset? FirstTouchedAt(string unit, long version)
    {
        lock (_sync)
        {
            var first = _changes.FirstOrDefault(c => c.Unit == unit && c.Version == version);
            return first?.At;
        }
    }

    /// <summary>
    /// When <paramref name="node"/> last came back to <paramref name="version"/> from another version of
    /// <paramref name="unit"/>; null if it never went back (a node that never left does not count).
    /// </summary>
    public DateTimeOffset? BackOnAt(string node, string unit, long version)
    {
        lock (_sync)
        {
            return _byNode.TryGetValue(node, out var ofNode)
                ? ofNode.LastOrDefault(c => c.Unit == unit && c.Kind == NodeChangeKind.Applied && c.Version == version &&
                                            c.PreviousVersion is { } before && before != version)?.At
                : null;
        }
    }

    /// <summary>
    /// From the first time a node touched <paramref name="badVersion"/> to the moment the last node that
    /// ran it was back on <paramref name="goodVersion"/>. Zero when the bad version was touched but only
    /// ever refused; null while some node that ran it is not back yet, or when no node touched it.
    /// Worked example: canary A takes v8 at t=10 s and crashes, canary B refuses it at t=10 s, A returns
    /// to v7 at t=14 s → 4 s.
    /// </summary>
    public TimeSpan? TimeToSafe(string unit, long badVersion, long goodVersion)
    {
        lock (_sync)
        {
            if (FirstTouchedAt(unit, badVersion) is not { } start)
            {
                return null;
            }
            if (!_everApplied.ContainsKey((unit, badVersion)))
            {
                return TimeSpan.Zero;
            }
            return LastBackOnAt(unit, badVersion, goodVersion) is { } end ? (end > start ? end - start : TimeSpan.Zero) : null;
        }
    }

    /// <summary>
    /// When the last node that ever ran <paramref name="badVersion"/> took <paramref name="goodVersion"/> again;
    /// null when no node ran it or while one of them runs anything else. In the example of
    /// <see cref="TimeToSafe"/>: t=14 s.
    /// </summary>
    public DateTimeOffset? LastBackOnAt(string unit, long badVersion, long goodVersion)
    {
        lock (_sync)
        {
            if (!_everApplied.TryGetValue((unit, badVersion), out var touched))
            {
                return null;
            }
            DateTimeOffset? end = null;
            foreach (var node in touched)
            {
                var last = _byNode[node].Last(c => c.Unit == unit && c.Kind == NodeChangeKind.Applied);
                if (last.Version != goodVersion)
                {
                    return null;
                }
                end = end is { } e && e > last.At ? e : last.At;
            }
            return end;
        }
    }

    private static void Add(Dictionary<(string, long), HashSet<string>> index, (string, long) key, string node)
    {
        if (!index.TryGetValue(key, out var nodes))
        {
            index[key] = nodes = new HashSet<string>(StringComparer.Ordinal);
        }
        nodes.Add(node);
    }
}
