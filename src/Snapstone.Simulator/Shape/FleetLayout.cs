namespace Snapstone.Simulator.Shape;

/// <summary>The PoPs and nodes a <see cref="FleetShape"/> lays out.</summary>
public sealed record FleetLayout(IReadOnlyList<Pop> Pops, IReadOnlyList<NodeProfile> Nodes)
{
    // Site codes per well-known region, so that a demo reads like a real fleet; other regions get codes
    // made from their own name.
    private static readonly Dictionary<string, string[]> Cities = new()
    {
        ["eu-west"] = ["ams", "fra", "lhr", "cdg", "mad", "dub", "mxp", "arn"],
        ["eu-central"] = ["waw", "vie", "prg", "zrh", "muc", "ber"],
        ["us-east"] = ["iad", "ewr", "atl", "mia", "ord", "bos", "yyz"],
        ["us-west"] = ["sjc", "lax", "sea", "den", "phx", "pdx"],
        ["ap-southeast"] = ["sin", "nrt", "syd", "hkg", "bom", "icn"],
        ["sa-east"] = ["gru", "scl", "bog", "eze", "lim"],
        ["af-south"] = ["jnb", "cpt", "los", "nbo"],
    };

    /// <summary>
    /// Lays out <paramref name="shape"/>. Worked example with the defaults and seed 1: 20 PoPs
    /// <c>pop-001</c>..<c>pop-020</c> dealt to 4 regions in turn (pop-001 eu-west "ams01", pop-002
    /// us-east "iad01", ...), 2000 nodes spread by random PoP weight with at least one per PoP, named
    /// <c>n-ams01-0001</c>...; 1% canaries per region; 3 low-traffic PoPs; 10 flaky nodes.
    /// </summary>
    public static FleetLayout Lay(FleetShape shape)
    {
        shape.Check();
        var random = new Random(shape.Seed);

        var lowTraffic = Pick(random, shape.Pops, (int)Math.Round(shape.LowTrafficPopShare * shape.Pops));
        var weights = new double[shape.Pops];
        var latencies = new double[shape.Pops];
        for (var p = 0; p < shape.Pops; p++)
        {
            weights[p] = lowTraffic.Contains(p) ? 0.3 : 0.6 + random.NextDouble();
            latencies[p] = Between(random, shape.MinPopP99LatencyMs, shape.MaxPopP99LatencyMs);
        }
        var counts = Spread(shape.Nodes, weights);

        var sites = new Dictionary<string, int>();
        var pops = new List<Pop>(shape.Pops);
        for (var p = 0; p < shape.Pops; p++)
        {
            var region = shape.Regions[p % shape.Regions.Count];
            var inRegion = p / shape.Regions.Count;
            var cities = Cities.GetValueOrDefault(region) ?? [CityOf(region)];
            var city = cities[inRegion % cities.Length];
            var number = sites[city] = sites.GetValueOrDefault(city) + 1;
            pops.Add(new Pop($"pop-{p + 1:000}", $"{city}{number:00}", region, lowTraffic.Contains(p), Math.Round(latencies[p], 1), counts[p]));
        }

        var flaky = Pick(random, shape.Nodes, (int)Math.Round(shape.FlakyNodeShare * shape.Nodes));
        var drafts = new List<NodeProfile>(shape.Nodes);
        foreach (var pop in pops)
        {
            for (var i = 1; i <= pop.NodeCount; i++)
            {
                var labels = new Dictionary<string, string>();
                foreach (var split in shape.Labels)
                {
                    labels[split.Key] = split.Draw(random);
                }
                var rps = pop.LowTraffic
                    ? Between(random, shape.MinLowTrafficRequestsPerSecond, shape.MaxLowTrafficRequestsPerSecond)
                    : Between(random, shape.MinRequestsPerSecond, shape.MaxRequestsPerSecond);
                var isFlaky = flaky.Contains(drafts.Count);
                var errorRate = isFlaky
                    ? Between(random, shape.MinFlakyErrorRate, shape.MaxFlakyErrorRate)
                    : shape.BaseErrorRate * Between(random, 0.5, 1.5);
                var p99 = pop.P99LatencyMs * Between(random, 0.85, 1.15);
                drafts.Add(new NodeProfile($"n-{pop.Site}-{i:0000}", pop.Id, pop.Region, FleetShape.StandardTier, labels,
                    Math.Round(rps, 3), errorRate, Math.Round(p99, 2), isFlaky));
            }
        }

        var nodes = drafts.ToArray();
        foreach (var region in shape.Regions)
        {
            var members = Enumerable.Range(0, nodes.Length).Where(n => nodes[n].Region == region).ToArray();
            if (members.Length == 0 || shape.CanaryShare <= 0)
            {
                continue;
            }
            var canaries = Math.Clamp((int)Math.Round(shape.CanaryShare * members.Length), 1, members.Length);
            foreach (var pick in Pick(random, members.Length, canaries))
            {
                nodes[members[pick]] = nodes[members[pick]] with { Tier = FleetShape.CanaryTier };
            }
        }
        return new FleetLayout(pops, nodes);
    }

    /// <summary><paramref name="count"/> distinct indexes below <paramref name="of"/>, drawn without replacement.</summary>
    private static HashSet<int> Pick(Random random, int of, int count)
    {
        var indexes = Enumerable.Range(0, of).ToArray();
        random.Shuffle(indexes);
        return indexes.Take(Math.Min(count, of)).ToHashSet();
    }

    /// <summary>
    /// Splits <paramref name="total"/> items over weighted bins, one item each first, the rest by largest
    /// remainder: 10 items over weights [1, 1, 2] → [3, 3, 4].
    /// </summary>
    internal static int[] Spread(int total, IReadOnlyList<double> weights)
    {
        var counts = Enumerable.Repeat(1, weights.Count).ToArray();
        var rest = total - weights.Count;
        var sum = weights.Sum();
        var shares = weights.Select(w => rest * w / sum).ToArray();
        for (var i = 0; i < counts.Length; i++)
        {
            counts[i] += (int)Math.Floor(shares[i]);
        }
        var left = total - counts.Sum();
        foreach (var i in Enumerable.Range(0, counts.Length).OrderByDescending(i => shares[i] - Math.Floor(shares[i])).ThenBy(i => i).Take(left))
        {
            counts[i]++;
        }
        return counts;
    }

    private static double Between(Random random, double min, double max) => min + random.NextDouble() * (max - min);

    private static string CityOf(string region)
    {
        var letters = new string(region.Where(char.IsAsciiLetterLower).Take(3).ToArray());
        return letters.PadRight(3, 'x');
    }
}
