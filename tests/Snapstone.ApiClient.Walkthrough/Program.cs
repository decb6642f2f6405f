// The README's walk-through, through the client Kiota generates from /openapi/v1.json:
//   dotnet run --project tests/Snapstone.ApiClient.Walkthrough -- <server url> <admin token> <unit name>
// Prints each step; exits 0 when every step answered as the README says, 1 (with the reason) when one did not.
using Microsoft.Kiota.Abstractions;
using Microsoft.Kiota.Abstractions.Authentication;
using Microsoft.Kiota.Abstractions.Serialization;
using Microsoft.Kiota.Http.HttpClientLibrary;
using Snapstone.Walkthrough.Api;
using Snapstone.Walkthrough.Api.Models;

if (args.Length != 3)
{
    Console.Error.WriteLine("usage: Snapstone.ApiClient.Walkthrough <server url> <admin token> <unit name>");
    return 2;
}
var (server, token, unit) = (args[0], args[1], args[2]);
var auth = new BaseBearerTokenAuthenticationProvider(new StaticToken(token));
using var http = new HttpClient { BaseAddress = new Uri(server) };
var adapter = new HttpClientRequestAdapter(auth, httpClient: http) { BaseUrl = server.TrimEnd('/') };
var api = new SnapstoneApi(adapter);

try
{
    var plan = $"{unit}-quick";
    await api.V1.Plans[plan].PutAsync(new Plan
    {
        Waves =
        [
            new WaveSpec { Name = "canary", Select = new WaveSelect { Tier = "canary" }, BakeSeconds = 1 },
            new WaveSpec { Name = "all", Select = new WaveSelect { Percent = 100 }, BakeSeconds = 1 },
        ],
    });
    Say($"plan {plan} defined");

    // 1. Define a unit: a JSON feature file with at most 200 features, consumed by fl2 proxies.
    // The README's unit targets every fl2 proxy; here, only this run's node (the server may hold other runs' nodes).
    var labels = new TargetsBody_labels { AdditionalData = { ["proxy"] = "fl2", ["walkthrough"] = unit } };
    var defined = await api.V1.Units[unit].PutAsync(new UnitBody
    {
        Owner = "bot-management",
        Description = "ML feature file for the bot score",
        Kind = UnitKind.File,
        RiskTier = RiskTier.Standard,
        Plan = plan,
        Validators = new ValidatorsBody { Format = ContentFormat.Json, MaxBytes = 1048576, MaxItems = new MaxItemsBody { Path = "$.features", Max = 200 } },
        Targets = new TargetsBody { Labels = labels },
    });
    Say($"unit {defined?.Name} defined, plan {defined?.Plan}");

    // 2. Publish a package.
    var first = await api.V1.Units[unit].Packages.PostAsync(new PackageBody { Content = """{"features": ["ua-entropy", "tls-ja4"]}""", Message = "first feature set" });
    Check(first?.Version == 1 && first.Validation?.Passed == true, $"the first package is version 1 and passes validation (got v{first?.Version}, passed {first?.Validation?.Passed})");
    Say($"package v{first!.Version} published, sha256 {first.Sha256}");

    // A package past the limit is refused with 422 and a finding naming the limit and the count.
    try
    {
        await api.V1.Units[unit].PackagesValidate.PostAsync(new PackageBody { Content = $$"""{"features": [{{string.Join(",", Enumerable.Range(1, 201))}}]}""" });
        Check(false, "a package of 201 features is refused");
    }
    catch (PackageResponse refused)
    {
        Check(refused.ResponseStatusCode == 422 && refused.Validation?.Passed == false, $"the refusal is a 422 with passed: false (got {refused.ResponseStatusCode})");
        Say($"201 features refused: {string.Join("; ", refused.Validation!.Findings!.Select(f => f.Message))}");
    }

    // 3. A node reports; the answer carries its desired state.
    var node = $"{unit}-ams01-n001";
    async Task<DesiredResponse?> Report(long? applied) => await api.V1.Nodes[node].Report.PostAsync(new NodeReport
    {
        Pop = "ams01",
        Region = "eu-west",
        Tier = "canary",
        Labels = new NodeReport_labels { AdditionalData = { ["proxy"] = "fl2", ["walkthrough"] = unit } },
        // A map of unit to package: Kiota keeps typed maps as untyped additional data.
        Applied = applied is { } version
            ? new NodeReport_applied { AdditionalData = { [unit] = new UntypedObject(new Dictionary<string, UntypedNode>
              {
                  ["version"] = new UntypedLong(version), ["sha256"] = new UntypedString(first.Sha256), ["status"] = new UntypedString("ok"),
              }) } }
            : new NodeReport_applied(),
        Metrics = new NodeMetrics { Requests = 1200, Errors = 0, P99LatencyMs = 41.5, Crashes = 0 },
        IntervalSeconds = 1,
    });
    await Report(null);
    var view = await api.V1.Nodes[node].GetAsync();
    Say($"node {view?.Node} enrolled in {view?.Pop}");
    var fleet = await api.V1.Fleet.GetAsync();
    Say($"the fleet holds {fleet?.Nodes} node(s)");

    // Rolling it out: the first package goes through the waves like any other.
    var started = await api.V1.Rollouts.PostAsync(new RolloutBody { Unit = unit, Version = 1, Plan = plan, Reason = "first feature set" },
        c => c.Headers.Add("Idempotency-Key", $"{unit}-pipeline-1"));
    Say($"rollout {started!.Id} started: {started.State}");
    var replay = await api.V1.Rollouts.PostAsync(new RolloutBody { Unit = unit, Version = 1, Plan = plan, Reason = "first feature set" },
        c => c.Headers.Add("Idempotency-Key", $"{unit}-pipeline-1"));
    Check(replay?.Id == started.Id, "the same Idempotency-Key answers the same rollout");

    var deadline = DateTimeOffset.UtcNow.AddSeconds(120);
    RolloutResponse? rollout;
    do
    {
        await Report(1);
        rollout = await api.V1.Rollouts[started.Id!].GetAsync();
        if (DateTimeOffset.UtcNow > deadline)
        {
            Check(false, $"rollout {started.Id} completes within 120 s (it is {rollout?.State})");
        }
        await Task.Delay(TimeSpan.FromSeconds(1));
    }
    while (rollout?.State is not ("completed" or "rolled-back" or "aborted"));
    Check(rollout.State == "completed", $"the rollout completes (it ended {rollout.State}: {string.Join(" | ", rollout.Timeline?.Select(t => t.Message) ?? [])})");
    Say($"rollout {rollout.Id} completed: {string.Join(", ", rollout.Waves!.Select(w => $"{w.Name} {w.State}"))}");

    var listed = await api.V1.Rollouts.GetAsync(c => c.QueryParameters.Unit = unit);
    Check(listed?.Rollouts?.Any(r => r.Id == started.Id) == true, "the rollout is listed by unit");
    var verified = await api.V1.Audit.Verify.GetAsync();
    Check(verified?.Valid == true, "the audit chain verifies");
    Say($"audit chain verified over {verified!.Entries} entries");

    // An unknown unit is a problem detail the client can read.
    try
    {
        await api.V1.Units[$"{unit}-missing"].GetAsync();
        Check(false, "an unknown unit is refused");
    }
    catch (Problem problem)
    {
        Check(problem.ResponseStatusCode == 404, $"an unknown unit is 404 (got {problem.ResponseStatusCode})");
        Say($"unknown unit: {problem.Status} {problem.Detail}");
    }
    Say("walk-through complete");
    return 0;
}
catch (WalkthroughFailed failed)
{
    Console.Error.WriteLine($"walk-through failed: {failed.Message}");
    return 1;
}
catch (Problem problem)
{
    Console.Error.WriteLine($"walk-through failed: the server answered {problem.ResponseStatusCode}: {problem.Detail}");
    return 1;
}

static void Say(string line) => Console.WriteLine($"walk-through: {line}");

static void Check(bool ok, string what)
{
    if (!ok)
    {
        throw new WalkthroughFailed(what);
    }
}

internal sealed class WalkthroughFailed(string message) : Exception(message);

internal sealed class StaticToken(string token) : IAccessTokenProvider
{
    public AllowedHostsValidator AllowedHostsValidator { get; } = new();

    public Task<string> GetAuthorizationTokenAsync(Uri uri, Dictionary<string, object>? additionalAuthenticationContext = null, CancellationToken cancellationToken = default) =>
        Task.FromResult(token);
}
