using Microsoft.Extensions.Logging;
using Snapstone.Simulator.Shape;

namespace Snapstone.Simulator.Cli;

/// <summary>The options every fleet-running command shares: its shape, its token and how it batches.</summary>
internal static class FleetArguments
{
    public static FleetOptions Read(Arguments args, int defaultNodes = 2000)
    {
        var shape = new FleetShape
        {
            Nodes = args.Number("nodes", defaultNodes),
            Pops = args.Number("pops", 20),
            Seed = args.Number("seed", 1),
            CanaryShare = args.Number("canary-share", 0.01),
            FlakyNodeShare = args.Number("flaky-share", 0.005),
            LowTrafficPopShare = args.Number("low-traffic-pop-share", 0.15),
        };
        if (args.Text("regions") is { } regions)
        {
            shape = shape with { Regions = regions.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) };
        }
        if (args.All("label") is { Count: > 0 } labels)
        {
            shape = shape with { Labels = labels.Select(Label).ToArray() };
        }
        var interval = args.Number("interval", 1.0);
        if (!(interval > 0))
        {
            throw new UsageException($"--interval must be a positive number of seconds (got {interval})");
        }
        return new FleetOptions
        {
            Shape = shape,
            Token = args.Text("token"),
            ReportInterval = TimeSpan.FromSeconds(interval),
            MaxReportsPerBatch = args.Number("batch", 500),
            MaxConcurrentRequests = args.Number("concurrency", 8),
        };
    }

    /// <summary>
    /// The Snapstone base URLs given with <c>--server</c> or <c>--url</c> (the same option), each repeatable and each
    /// a comma-separated list: <c>--url http://a:5080 --url http://b:5080</c> or <c>--url http://a:5080,http://b:5080</c>.
    /// </summary>
    public static IReadOnlyList<Uri> Urls(Arguments args)
    {
        var urls = new List<Uri>();
        foreach (var text in args.All("server").Concat(args.All("url"))
                     .SelectMany(t => t.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            {
                throw new UsageException($"--url must be an absolute http or https URL like http://127.0.0.1:5080 (got '{text}')");
            }
            if (urls.Contains(url))
            {
                throw new UsageException($"--url {url} is given twice");
            }
            urls.Add(url);
        }
        return urls;
    }

    public static LogLevel LogLevel(Arguments args) =>
        Enum.TryParse<LogLevel>(args.Text("log") ?? "warning", ignoreCase: true, out var level)
            ? level
            : throw new UsageException("--log must be trace, debug, information, warning, error or none");

    /// <summary>Turns an impossible fleet into a usage error naming the option.</summary>
    public static void Check(FleetOptions options)
    {
        try
        {
            options.Check();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
    }

    private static LabelSplit Label(string text)
    {
        var at = text.IndexOf('=');
        if (at <= 0 || at == text.Length - 1)
        {
            throw new UsageException($"--label '{text}' must look like KEY=VALUE1,VALUE2");
        }
        return LabelSplit.Even(text[..at], text[(at + 1)..].Split(','));
    }
}
