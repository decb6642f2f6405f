using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Snapstone.Simulator;

namespace Snapstone.Chaos.Tests;

/// <summary>
/// A fault on the agents' side, so that a rollback lasts long enough to kill its silo in the middle of it: while
/// armed for a unit, every node that runs the bad version and is told, in the answer to a report, to go back to the
/// previous one hangs at that moment (its agent is stuck: it reports nothing), so the rollback waits for its
/// confirmation. <see cref="Release"/> resumes them; they report, take the previous package and confirm.
/// Sits in the fleet's HTTP pipeline and reads the report answers before the fleet does.
/// </summary>
public sealed class AgentHold(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private readonly ConcurrentDictionary<string, SimulatedNode> _held = new(StringComparer.Ordinal);
    private volatile Armed? _armed;

    /// <summary>Set once the fleet exists (the fleet needs this handler's client first).</summary>
    public Fleet? Fleet { get; set; }

    public IReadOnlyCollection<string> Held => [.. _held.Keys];

    /// <summary>From now on, nodes running <paramref name="bad"/> of <paramref name="unit"/> that are told to go back to <paramref name="previous"/> hang.</summary>
    public void Arm(string unit, long bad, long previous) => _armed = new Armed(unit, bad, previous);

    /// <summary>Disarms, and resumes every node held so far; answers how many.</summary>
    public int Release()
    {
        _armed = null;
        var held = _held.Values.ToList();
        foreach (var node in held)
        {
            node.Resume();
        }
        _held.Clear();
        return held.Count;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        if (_armed is not { } armed || Fleet is not { } fleet || !response.IsSuccessStatusCode || request.Method != HttpMethod.Post ||
            request.RequestUri?.AbsolutePath != "/v1/reports")
        {
            return response;
        }
        await response.Content.LoadIntoBufferAsync(cancellationToken);
        var answer = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        foreach (var result in answer?["results"]?.AsArray() ?? [])
        {
            if (result?["node"]?.GetValue<string>() is not { } id || result["desired"]?[armed.Unit]?["version"]?.GetValue<long>() != armed.Previous)
            {
                continue;
            }
            var node = fleet.Node(id);
            if (node.Running(armed.Unit)?.Version == armed.Bad && _held.TryAdd(id, node))
            {
                node.Hang();
            }
        }
        return response;
    }

    private sealed record Armed(string Unit, long Bad, long Previous);
}
