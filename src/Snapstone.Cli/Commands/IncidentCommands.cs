using System.CommandLine;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Snapstone.Cli.Commands;

/// <summary><c>snapstone incident list|get|update</c> over <c>/v1/incidents</c>.</summary>
public static class IncidentCommands
{
    public static readonly string[] Statuses = ["detected", "halted", "rolling-back", "rolled-back", "monitoring", "resolved"];

    public static Command Build(CommandContext c) => new("incident", "incidents opened by rollbacks, halts, drift and break-glass")
    {
        List(c), Get(c), Update(c),
    };

    private static Command List(CommandContext c)
    {
        var command = new Command("list", "every incident, open and resolved");
        c.Run(command, async (s, p, ct) =>
        {
            var list = await s.Gateway.GetAsync("/v1/incidents", ct);
            return s.Emit(list, o =>
            {
                var incidents = list.Items("incidents").ToList();
                if (incidents.Count == 0)
                {
                    o.WriteLine("no incidents");
                    return;
                }
                var table = new Table().AddColumns("ID", "SEVERITY", "STATUS", "OPENED", "RESOLVED", "UNITS", "TITLE");
                foreach (var i in incidents)
                {
                    table.AddRow(Cells.Of(i.Str("id"), i.Str("severity"), i.Str("status"), Json.When(i.Str("openedAt")),
                        i.Str("resolvedAt") is { } at ? Json.When(at) : null, string.Join(", ", i.Strings("units")), i.Str("title")));
                }
                o.Write(table);
            });
        });
        return command;
    }

    private static Command Get(CommandContext c)
    {
        var id = Arguments.Name("id", "the incident's id");
        var command = new Command("get", "an incident with its timeline of updates") { id };
        c.Run(command, async (s, p, ct) =>
        {
            var incident = await s.Gateway.GetAsync($"/v1/incidents/{Arguments.Segment(p.GetRequiredValue(id))}", ct);
            return s.Emit(incident, o => Render(o, incident));
        });
        return command;
    }

    private static Command Update(CommandContext c)
    {
        var id = Arguments.Name("id", "the incident's id");
        var status = new Option<string>("--status")
        {
            Description = $"the incident's new status: {string.Join(", ", Statuses)}",
            HelpName = "status",
            Required = true,
        }.AcceptOnlyFromAmong(Statuses);
        var message = new Option<string>("--message", "-m") { Description = "what changed, for the status page and the webhooks", HelpName = "text", Required = true };
        var command = new Command("update", "add an update to an incident's timeline (resolved closes it)") { id, status, message };
        c.Run(command, async (s, p, ct) =>
        {
            var body = new JsonObject { ["status"] = p.GetRequiredValue(status), ["message"] = p.GetRequiredValue(message) };
            var incident = await s.Gateway.PostAsync($"/v1/incidents/{Arguments.Segment(p.GetRequiredValue(id))}/updates", body, ct);
            return s.Emit(incident, o =>
            {
                o.WriteLine($"incident {incident.Str("id")} updated: now {incident.Str("status")}");
                Render(o, incident);
            });
        });
        return command;
    }

    public static void Render(IAnsiConsole o, JsonNode incident)
    {
        o.WriteLine($"incident {incident.Str("id")}: {incident.Str("title")}");
        o.WriteLine($"{incident.Str("severity")}, {incident.Str("status")}; opened {Json.When(incident.Str("openedAt"))}" +
            (incident.Str("resolvedAt") is { } at ? $", resolved {Json.When(at)}" : "") +
            (incident.Strings("units").ToList() is { Count: > 0 } units ? $"; units {string.Join(", ", units)}" : "") +
            (incident.Str("source") is { Length: > 0 } source ? $"; from {source}" : ""));
        var table = new Table().AddColumns("AT", "STATUS", "BY", "MESSAGE");
        foreach (var u in incident.Items("updates"))
        {
            table.AddRow(Cells.Of(Json.When(u.Str("at")), u.Str("status"), u.Str("by"), u.Str("message")));
        }
        o.Write(table);
    }
}
