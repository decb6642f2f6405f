using System.Globalization;
using System.Net.Http.Headers;

namespace Snapstone.Benchmarks.Probes;

/// <summary>
/// What the PoPs' observations for rollouts cost, read from the server's <c>/metrics</c> (the <c>snapstone.pop.*</c>
/// counters): per kind (<c>wave</c>, <c>rollback</c>), PoP observations, the cohort or touched nodes they covered, and
/// the node grains they called. A rollout tick asks every PoP once, so observations over PoPs is the number of ticks.
/// </summary>
public sealed record ObserveCost(IReadOnlyDictionary<string, (double Observations, double Covered, double Calls)> ByKind)
{
    public static readonly ObserveCost None = new(new Dictionary<string, (double, double, double)>());

    /// <summary>The counters of every silo in <paramref name="silos"/>, added up: each silo counts what its own PoP activations did.</summary>
    public static async Task<ObserveCost> ReadAsync(HttpClient http, IReadOnlyList<Uri> silos, string token, CancellationToken cancellationToken)
    {
        var byKind = new Dictionary<string, (double Observations, double Covered, double Calls)>(StringComparer.Ordinal);
        foreach (var silo in silos)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(silo, "/metrics"));
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await http.SendAsync(request, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                return None;
            }
            Add(byKind, await response.Content.ReadAsStringAsync(cancellationToken));
        }
        return new ObserveCost(byKind);
    }

    private static void Add(Dictionary<string, (double Observations, double Covered, double Calls)> byKind, string text)
    {
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith("snapstone_pop_", StringComparison.Ordinal))
            {
                continue;
            }
            var kindAt = line.IndexOf("kind=\"", StringComparison.Ordinal);
            if (kindAt < 0)
            {
                continue;
            }
            var kind = line[(kindAt + 6)..line.IndexOf('"', kindAt + 6)];
            var value = double.Parse(line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            var known = byKind.GetValueOrDefault(kind);
            byKind[kind] = line.StartsWith("snapstone_pop_observations", StringComparison.Ordinal) ? known with { Observations = known.Observations + value }
                : line.StartsWith("snapstone_pop_observed_nodes", StringComparison.Ordinal) ? known with { Covered = known.Covered + value }
                : line.StartsWith("snapstone_pop_observe_calls", StringComparison.Ordinal) ? known with { Calls = known.Calls + value }
                : known;
        }
    }

    /// <summary>This reading minus an earlier one.</summary>
    public ObserveCost Since(ObserveCost earlier) => new(ByKind.ToDictionary(
        k => k.Key,
        k => earlier.ByKind.GetValueOrDefault(k.Key) is var e ? (k.Value.Observations - e.Observations, k.Value.Covered - e.Covered, k.Value.Calls - e.Calls) : k.Value,
        StringComparer.Ordinal));

    /// <summary>"wave: 12 ticks, 10,000 cohort nodes and 10,100 node calls a tick; …", ticks counted as observations over <paramref name="pops"/>.</summary>
    public string Describe(int pops) => ByKind.Count == 0 || ByKind.Values.All(v => v.Observations == 0)
        ? "no observations counted (the server's /metrics had none)"
        : string.Join("; ", ByKind.Where(k => k.Value.Observations > 0).OrderBy(k => k.Key, StringComparer.Ordinal).Select(k =>
        {
            var ticks = k.Value.Observations / pops;
            return $"{k.Key}: {ticks:0.#} ticks, {ResultRow.Number(k.Value.Covered / ticks)} {(k.Key == "wave" ? "cohort" : "touched")} nodes and " +
                   $"{ResultRow.Number(k.Value.Calls / ticks)} node calls a tick ({k.Value.Calls / Math.Max(1, k.Value.Covered):0.00} calls per {(k.Key == "wave" ? "cohort" : "touched")} node)";
        }));
}
