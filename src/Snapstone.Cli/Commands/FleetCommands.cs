using System.CommandLine;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Snapstone.Cli.Commands;

/// <summary><c>snapstone drift</c> (<c>GET /v1/drift</c>) and <c>snapstone fleet</c> (<c>GET /v1/fleet</c>).</summary>
public static class FleetCommands
{
    public static Command BuildDrift(CommandContext c)
    {
        var command = new Command("drift", "nodes whose applied package differs from their desired one past the grace, stale and out-of-band nodes");
        c.Run(command, async (s, p, ct) =>
        {
            var drift = await s.Gateway.GetAsync("/v1/drift", ct);
            return s.Emit(drift, o =>
            {
                var lines = drift.Items("drifted").ToList();
                var scanned = drift.Str("scannedAt") is { } at ? $"scanned {Json.When(at)}" : "not scanned yet";
                o.WriteLine($"{lines.Count} drifted, stale or out-of-band node-unit pair{(lines.Count == 1 ? "" : "s")} ({scanned}, {drift.Int("nodes")} nodes in {drift.Int("pops")} PoPs)");
                if (lines.Count == 0)
                {
                    return;
                }
                var table = new Table().AddColumns("NODE", "POP", "UNIT", "KIND", "DESIRED", "APPLIED", "SINCE", "ATTEMPTS", "EXCLUDED");
                foreach (var d in lines)
                {
                    table.AddRow(Cells.Of(d.Str("node"), d.Str("pop"), d.Str("unit"), d.Str("kind"), Versions.Of(d.Long("desiredVersion")),
                        Versions.Of(d.Long("appliedVersion")), Json.When(d.Str("since")), $"{d.Int("attempts")}", d.Bool("excluded") ? "yes" : "no"));
                }
                o.Write(table);
            });
        });
        return command;
    }

    public static Command BuildFleet(CommandContext c)
    {
        var command = new Command("fleet", "the fleet: nodes per PoP, region and tier, and its drift");
        c.Run(command, async (s, p, ct) =>
        {
            var fleet = await s.Gateway.GetAsync("/v1/fleet", ct);
            return s.Emit(fleet, o =>
            {
                var pops = fleet.Items("pops").ToList();
                o.WriteLine($"{fleet.Int("nodes")} nodes in {pops.Count} PoPs");
                o.WriteLine($"by region: {Counts(fleet["byRegion"])}");
                o.WriteLine($"by tier: {Counts(fleet["byTier"])}");
                if (pops.Count > 0)
                {
                    var table = new Table().AddColumns("POP", "REGION", "NODES", "TIERS");
                    foreach (var pop in pops)
                    {
                        table.AddRow(Cells.Of(pop.Str("pop"), pop.Str("region"), $"{pop.Int("nodes")}", Counts(pop["byTier"])));
                    }
                    o.Write(table);
                }
                if (fleet["drift"] is JsonObject drift)
                {
                    o.WriteLine($"drift: {drift.Int("affected")} affected ({drift["share"]?.GetValue<double>() * 100:0.#}% of {drift.Int("nodes")}; " +
                        $"{drift.Int("drifted")} drifted, {drift.Int("outOfBand")} out of band), {drift.Int("stale")} stale, {drift.Int("excluded")} excluded" +
                        (drift.Str("incident") is { } incident ? $"; incident {incident}" : ""));
                }
            });
        });
        return command;
    }

    private static string Counts(JsonNode? counts) =>
        counts is JsonObject o && o.Count > 0 ? string.Join(", ", o.Select(kv => $"{kv.Key} {kv.Value}")) : "-";
}
