using System.Globalization;

namespace Snapstone.Simulator.Cli;

/// <summary>
/// <c>--name value</c> pairs after a command word; a name may repeat (<c>--consumer a=plain --consumer b=latency</c>).
/// The names in <see cref="Switches"/> take no value (<c>--no-report-metrics</c>). Every option must be read, so a
/// misspelt one is reported instead of silently ignored.
/// </summary>
internal sealed class Arguments
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    private Arguments(string command) => Command = command;

    /// <summary>Options that are on by being named and take no value.</summary>
    public static readonly IReadOnlySet<string> Switches = new HashSet<string>(StringComparer.Ordinal) { "no-report-metrics" };

    public string Command { get; }

    public static Arguments Parse(IReadOnlyList<string> args)
    {
        if (args.Count == 0 || args[0].StartsWith('-'))
        {
            throw new UsageException("name a command first");
        }
        var parsed = new Arguments(args[0]);
        for (var i = 1; i < args.Count; i++)
        {
            var name = args[i];
            if (!name.StartsWith("--", StringComparison.Ordinal) || name.Length == 2)
            {
                throw new UsageException($"expected an option like --name, got '{name}'");
            }
            if (Switches.Contains(name[2..]))
            {
                if (!parsed._values.TryAdd(name[2..], ["true"]))
                {
                    throw new UsageException($"{name} is given twice");
                }
                continue;
            }
            if (i + 1 >= args.Count)
            {
                throw new UsageException($"{name} needs a value");
            }
            if (!parsed._values.TryGetValue(name[2..], out var list))
            {
                parsed._values[name[2..]] = list = [];
            }
            list.Add(args[++i]);
        }
        return parsed;
    }

    public string? Text(string name)
    {
        _read.Add(name);
        return _values.TryGetValue(name, out var list) ? list[^1] : null;
    }

    /// <summary>Whether the switch <paramref name="name"/> (one of <see cref="Switches"/>) was given.</summary>
    public bool Switch(string name)
    {
        _read.Add(name);
        return _values.ContainsKey(name);
    }

    public string RequiredText(string name) => Text(name) ?? throw new UsageException($"--{name} is required");

    public IReadOnlyList<string> All(string name)
    {
        _read.Add(name);
        return _values.TryGetValue(name, out var list) ? list : [];
    }

    public T Number<T>(string name, T fallback) where T : System.Numerics.INumber<T>
    {
        var text = Text(name);
        if (text is null)
        {
            return fallback;
        }
        return T.TryParse(text, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new UsageException($"--{name} must be a number (got '{text}')");
    }

    /// <summary>Throws when an option was given that the command never asked for.</summary>
    public void RejectUnknown()
    {
        var unknown = _values.Keys.Where(k => !_read.Contains(k)).ToArray();
        if (unknown.Length > 0)
        {
            throw new UsageException($"unknown option{(unknown.Length > 1 ? "s" : "")} for '{Command}': {string.Join(", ", unknown.Select(u => "--" + u))}");
        }
    }
}

internal sealed class UsageException(string message) : Exception(message);
