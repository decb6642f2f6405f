using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Snapstone.Benchmarks.Measurements;

/// <summary>
/// (g) Which grains the report path calls, how often, and on which silo, read from the Orleans dashboard the server
/// runs (<c>GET /dashboard/DashboardCounters</c>, the admin token): per grain type and silo, its activations and the
/// calls its grain-call filter counted. The dashboard traces calls only while someone reads it, so the first read
/// turns tracing on; the fleet then reports at its real cadence for <see cref="Duration"/> and the second read gives
/// the calls since (the dashboard keeps its last 100 one-second periods, so the window must stay shorter). A grain type
/// whose calls grow with the fleet while its activations do not is one every report funnels through.
/// </summary>
public sealed class GrainCallRates : IMeasurement
{
    public static readonly TimeSpan Duration = TimeSpan.FromSeconds(40);

    /// <summary>How long after the window the counters are read: the calls of its last second reach the dashboard by then.</summary>
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(2.5);

    public async Task<ResultRow> RunAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        var fleet = context.Fleet;
        var interval = context.Options.ReportInterval;
        context.Log.WriteLine($"grain calls: dashboard tracing on, {fleet.Nodes.Count:N0} nodes every {interval.TotalSeconds:0} s for {Duration.TotalSeconds:0} s …");
        if (await ReadAsync(context, cancellationToken) is null)
        {
            return new ResultRow("g", "grain calls by type and silo, at the real cadence", "not measured",
                "the dashboard did not answer GET /dashboard/DashboardCounters");
        }
        // The dashboard's first read turns tracing on in every silo a moment later; the window starts after it.
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        var before = await ReadAsync(context, cancellationToken) ?? [];
        var watch = Stopwatch.StartNew();
        using (var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            stop.CancelAfter(Duration);
            await fleet.RunAsync(interval, stop.Token);
        }
        // The dashboard refreshes its counters once a second from what the silos submitted the second before.
        await Task.Delay(Settle, cancellationToken);
        var after = await ReadAsync(context, cancellationToken) ?? [];
        var seconds = watch.Elapsed.TotalSeconds;
        var reports = fleet.Nodes.Count * (seconds / interval.TotalSeconds);
        var silos = after.Select(s => s.Silo).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var byType = after.GroupBy(s => s.Type, StringComparer.Ordinal).Select(g =>
        {
            var calls = g.Sum(s => s.Calls - before.FirstOrDefault(b => b.Type == s.Type && b.Silo == s.Silo)?.Calls ?? 0);
            return (Type: g.Key, Activations: g.Sum(s => s.Activations), CallsPerSecond: Math.Max(0, calls) / seconds,
                PerSilo: silos.Select(silo => g.FirstOrDefault(s => s.Silo == silo)?.Activations ?? 0).ToArray());
        }).Where(t => t.CallsPerSecond > 0.05).OrderByDescending(t => t.CallsPerSecond).ToList();
        if (byType.Count == 0)
        {
            return new ResultRow("g", "grain calls by type and silo, at the real cadence", "not measured", "the dashboard counted no grain calls");
        }
        var top = byType[0];
        var few = byType.Where(t => t.Activations <= Math.Max(3, silos.Count)).ToList();
        var detail = string.Join("; ", byType.Take(8).Select(t =>
            $"{Short(t.Type)}: {ResultRow.Number(t.CallsPerSecond)} calls/s over {ResultRow.Number(t.Activations)} activation{(t.Activations == 1 ? "" : "s")} " +
            $"({ResultRow.Number(t.CallsPerSecond / Math.Max(1, t.Activations), 2)} a second each, {t.CallsPerSecond / (reports / seconds):0.00} per report)" +
            (silos.Count > 1 ? $", activations per silo {string.Join("/", t.PerSilo)}" : "")));
        var hot = few.Count == 0
            ? "no grain type with at most one activation per silo took calls"
            : "few activations: " + string.Join(", ", few.Select(t => $"{Short(t.Type)} ({t.Activations}, {ResultRow.Number(t.CallsPerSecond)} calls/s)"));
        return new ResultRow("g", "grain calls by type and silo, at the real cadence (dashboard)",
            $"{Short(top.Type)} {ResultRow.Number(top.CallsPerSecond)} calls/s; {hot}",
            $"{ResultRow.Number(reports / seconds)} reports/s over {seconds:0} s, {silos.Count} silo{(silos.Count == 1 ? "" : "s")}; {detail}",
            top.CallsPerSecond);
    }

    /// <summary>"Snapstone.Grains.Nodes.NodeGrain" → "NodeGrain".</summary>
    private static string Short(string type) => type[(type.LastIndexOf('.') + 1)..];

    private sealed record TypeOnSilo(string Type, string Silo, int Activations, long Calls);

    private static async Task<List<TypeOnSilo>?> ReadAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(context.Server.BaseAddress, "/dashboard/DashboardCounters"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", context.Server.AdminToken);
        using var response = await context.Control.SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            context.Log.WriteLine($"  the dashboard answered {(int)response.StatusCode}");
            return null;
        }
        using var json = JsonDocument.Parse(await response.Content.ReadAsStreamAsync(cancellationToken));
        if (!TryGet(json.RootElement, "simpleGrainStats", out var stats) || stats.ValueKind != JsonValueKind.Array)
        {
            return null;
        }
        return [.. stats.EnumerateArray().Select(s => new TypeOnSilo(
            TryGet(s, "grainType", out var type) ? type.GetString() ?? "?" : "?",
            TryGet(s, "siloAddress", out var silo) ? silo.GetString() ?? "?" : "?",
            TryGet(s, "activationCount", out var activations) ? activations.GetInt32() : 0,
            TryGet(s, "totalCalls", out var calls) ? calls.GetInt64() : 0))];
    }

    /// <summary>A property by name, whatever its case (the dashboard's JSON has been both).</summary>
    private static bool TryGet(JsonElement element, string name, out JsonElement value)
    {
        foreach (var property in element.EnumerateObject())
        {
            if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                value = property.Value;
                return true;
            }
        }
        value = default;
        return false;
    }
}
