using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Snapstone.Server.Hosting;
using Snapstone.Server.Http;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>
/// The OpenAPI document is what clients are generated from: every operation named, summarised, secured with its scope,
/// and its problem answers listed; nothing but the API in it; and Redocly's recommended rules find no error.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ApiDocumentTests(ServerFixture fixture)
{
    /// <summary>Redocly CLI, pinned; installed from npm on first use like Azurite (<c>.ci/run</c> installs it up front).</summary>
    public const string RedoclyVersion = "2.77.0";

    /// <summary>Kiota, the generator the walk-through's client comes from; a .NET tool installed on first use.</summary>
    public const string KiotaVersion = "1.38.0";

    private async Task<JsonObject> DocumentAsync()
    {
        using var anonymous = fixture.Server.Client(null);
        var (status, document) = await anonymous.Get("/openapi/v1.json");
        Assert.Equal(200, status);
        return document.AsObject();
    }

    private static IEnumerable<(string Method, string Path, JsonObject Operation)> Operations(JsonObject document) =>
        document["paths"]!.AsObject().SelectMany(p => p.Value!.AsObject()
            .Where(m => m.Key is "get" or "put" or "post" or "delete" or "patch")
            .Select(m => (m.Key.ToUpperInvariant(), p.Key, m.Value!.AsObject())));

    [Fact]
    public async Task Every_operation_has_a_stable_id_a_summary_its_scope_and_its_problem_answers_and_nothing_else_is_listed()
    {
        var document = await DocumentAsync();
        var operations = Operations(document).ToList();
        Assert.NotEmpty(operations);
        Assert.All(operations, o => Assert.StartsWith("/v1/", o.Path));
        Assert.Equal("bearer", (string?)document["components"]!["securitySchemes"]![ApiDocument.BearerScheme]!["scheme"]);

        var ids = operations.Select(o => (string?)o.Operation["operationId"]).ToList();
        Assert.All(ids, id => Assert.False(string.IsNullOrEmpty(id)));
        Assert.Equal(ids.Count, ids.Distinct().Count());
        foreach (var (method, path, operation) in operations)
        {
            var at = $"{method} {path}";
            Assert.True(ApiDocument.Operations.TryGetValue(at, out var named), $"{at} has no entry in ApiDocument.Operations");
            Assert.Equal(named.Id, (string?)operation["operationId"]);
            Assert.False(string.IsNullOrWhiteSpace((string?)operation["summary"]), $"{at} has no summary");
            var responses = operation["responses"]!.AsObject();
            Assert.Contains(responses, r => r.Key.StartsWith('2'));
            Assert.Contains(responses, r => r.Key.StartsWith('4') && r.Value!["content"]?["application/problem+json"] is not null);
            Assert.Contains("503", responses.Select(r => r.Key));
            var security = operation["security"]!.AsArray();
            if (path == "/v1/status")
            {
                Assert.Empty(security);
                continue;
            }
            var scopes = security.SelectMany(s => s![ApiDocument.BearerScheme]!.AsArray().Select(x => (string)x!)).ToList();
            Assert.True(scopes.Count > 0, $"{at} names no scope");
            Assert.All(scopes, s => Assert.Contains(s, Scopes.All));
            Assert.Contains("401", responses.Select(r => r.Key));
            Assert.Contains("403", responses.Select(r => r.Key));
        }
        // And the table names no operation the server does not have.
        var listed = operations.Select(o => $"{o.Method} {o.Path}").ToHashSet();
        Assert.DoesNotContain(ApiDocument.Operations.Keys, k => !listed.Contains(k));

        // Spot checks against API.md.
        var start = operations.Single(o => o is { Method: "POST", Path: "/v1/rollouts" }).Operation;
        Assert.Equal("deploy", (string?)start["security"]![0]![ApiDocument.BearerScheme]![0]);
        Assert.Contains("201", start["responses"]!.AsObject().Select(r => r.Key));
        Assert.Contains("409", start["responses"]!.AsObject().Select(r => r.Key));
        var content = operations.Single(o => o.Path == "/v1/units/{unit}/packages/{version}/content").Operation;
        Assert.Equal(["read", "agent"], content["security"]!.AsArray().Select(s => (string)s![ApiDocument.BearerScheme]![0]!));
    }

    [Fact]
    public async Task Redoclys_recommended_rules_find_no_error_or_warning_in_the_document()
    {
        var cli = await NpmPackages.EnsureInstalledAsync(EmbeddedAzurite.InstallRoot, "@redocly/cli", RedoclyVersion, Path.Combine("bin", "cli.js"), NullLogger.Instance);
        var folder = Directory.CreateTempSubdirectory("snapstone-openapi-");
        try
        {
            var file = Path.Combine(folder.FullName, "openapi.json");
            await File.WriteAllTextAsync(file, (await DocumentAsync()).ToJsonString());
            var said = await RunAsync("node", [cli, "lint", file, "--format=stylish"], folder.FullName, "redocly lint");
            Assert.Contains("Your API description is valid", said);
            Assert.DoesNotContain("warning", said.Replace("Deprecation warning", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_client_generated_from_the_document_runs_the_readmes_walk_through_against_the_server()
    {
        var kiota = await KiotaAsync();
        var project = Path.Combine(Repository.Root, "tests", "Snapstone.ApiClient.Walkthrough");
        var document = Path.Combine(Path.GetTempPath(), $"snapstone-openapi-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(document, (await DocumentAsync()).ToJsonString());
        try
        {
            await RunAsync(kiota, ["generate", "-d", document, "-l", "CSharp", "-o", Path.Combine(project, "Generated"), "-c", "SnapstoneApi",
                "-n", "Snapstone.Walkthrough.Api", "--exclude-backward-compatible", "--clean-output"], project, "kiota generate");
        }
        finally
        {
            File.Delete(document);
        }
        await RunAsync("dotnet", ["build", project, "--nologo", "-v", "q"], project, "dotnet build of the walk-through");
        var output = await RunAsync("dotnet", ["run", "--no-build", "--project", project, "--", fixture.Server.BaseAddress.ToString(),
            ServerProcess.Tokens["admin"].Token, TestStorage.Unique("walk")], project, "the walk-through");
        Assert.Contains("walk-through: 201 features refused: $.features holds 201 items; the unit allows at most 200", output);
        Assert.Contains("walk-through: walk-through complete", output);
    }

    /// <summary>Kiota's executable, installed once with <c>dotnet tool install --tool-path</c> (the lock keeps parallel runs to one install).</summary>
    private static async Task<string> KiotaAsync()
    {
        var folder = Path.Combine(EmbeddedAzurite.InstallRoot, $"kiota-{KiotaVersion}");
        var kiota = Path.Combine(folder, "kiota");
        if (File.Exists(kiota))
        {
            return kiota;
        }
        Directory.CreateDirectory(folder);
        await using (await NpmPackages.InstallLockAsync(Path.Combine(folder, ".install.lock")))
        {
            if (!File.Exists(kiota))
            {
                await RunAsync("dotnet", ["tool", "install", "--tool-path", folder, "Microsoft.OpenApi.Kiota", "--version", KiotaVersion], folder, "dotnet tool install of Kiota");
            }
        }
        return kiota;
    }

    private static async Task<string> RunAsync(string file, string[] arguments, string directory, string what)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            // Kiota asks GitHub for a newer version unless it is offline; nothing outside is reachable from CI.
            Environment =
            {
                ["KIOTA_OFFLINE_ENABLED"] = "true", ["KIOTA_TUTORIAL_ENABLED"] = "false", ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
                ["REDOCLY_TELEMETRY"] = "off", ["REDOCLY_SUPPRESS_UPDATE_NOTICE"] = "true", ["NO_COLOR"] = "1",
            },
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(limit.Token);
        var said = await output + await errors;
        Assert.True(process.ExitCode == 0, $"{what} exited with {process.ExitCode}:\n{said}");
        return said;
    }
}
