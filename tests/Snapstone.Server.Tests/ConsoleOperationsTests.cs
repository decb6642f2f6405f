using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Azure.Storage.Blobs;
using Microsoft.Playwright;
using Snapstone.Simulator.Consumers;
using Snapstone.Testing;
using static Microsoft.Playwright.Assertions;

namespace Snapstone.Server.Tests;

/// <summary>
/// The console's operations pages in a real browser against the real server: drift, fleet, the risk ranking and the
/// audit log show what the API shows; break-glass is drawn and accepted only for breakglass, through a confirmation
/// that says what will happen; and a session made on one gateway is good on another gateway of the same service.
/// </summary>
public sealed class ConsoleOperationsTests
{
    static ConsoleOperationsTests() => SetDefaultExpectTimeout(30_000);

    [Fact]
    public async Task Drift_fleet_risk_and_audit_pages_show_what_the_api_shows_and_follow_it_live()
    {
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string> { ["Snapstone__Drift__ScanSeconds"] = "2" });
        var drill = new DriftDrill(server);
        var reader = server.Client("reader");
        var (unit, sha1, sha2) = await drill.UnitWithTwoPackages();
        var (popA, popB) = (TestStorage.Unique("popa"), TestStorage.Unique("popb"));
        var (behind, fine, canary) = ($"{popA}-n1", $"{popA}-n2", $"{popB}-c1");
        var converged = false;
        var agents = new Agents(async () =>
        {
            await drill.Report(behind, popA, unit, converged ? 1 : 2, converged ? sha1 : sha2);
            await drill.Report(fine, popA, unit, 1, sha1);
            await drill.Report(canary, popB, unit, 1, sha1, tier: "canary");
        });
        await Eventually.Until(async () =>
        {
            await agents.Tick();
            return (await reader.Get("/v1/drift")).Body["drifted"]!.AsArray().Any(e => (string?)e!["node"] == behind);
        }, $"GET /v1/drift to list {behind}", TimeSpan.FromSeconds(30));

        await using var browser = await ConsoleBrowser.LaunchAsync();
        var page = await browser.SignInAsync(server.BaseAddress, "reader");

        // Drift: each line the API lists is a row with its kind, versions and PoP; a node that converges leaves the open page.
        await page.GotoAsync("/console/drift");
        await ConsoleBrowser.WaitLiveAsync(page);
        var drift = (await reader.Get("/v1/drift")).Body;
        foreach (var e in drift["drifted"]!.AsArray().Where(e => (string?)e!["unit"] == unit))
        {
            var row = page.Locator($"[data-test=drift] tr[data-node='{(string?)e!["node"]}'][data-unit='{unit}']");
            await Expect(row).ToHaveAttributeAsync("data-kind", (string)e["kind"]!);
            await Expect(row.Locator("td").Nth(1)).ToHaveTextAsync((string)e["pop"]!);
            await Expect(row.Locator("td").Nth(4)).ToHaveTextAsync($"v{(long)e["desiredVersion"]!}");
            await Expect(row.Locator("td").Nth(5)).ToHaveTextAsync(new Regex($"^v{(long)e["appliedVersion"]!}"));
        }
        var behindRow = page.Locator($"[data-test=drift] tr[data-node='{behind}']");
        await Expect(behindRow).ToHaveAttributeAsync("data-kind", "drifted");
        await Expect(page.Locator($"[data-test=drift] tr[data-node='{fine}']")).ToHaveCountAsync(0);
        await browser.ScreenshotAsync(page, "drift");
        await page.EvaluateAsync("() => { window.snapstoneSamePage = 'never reloaded'; }");
        converged = true;
        await Eventually.Until(async () =>
        {
            await agents.Tick();
            return await behindRow.CountAsync() == 0;
        }, $"the open drift page to drop {behind} once it converged", TimeSpan.FromSeconds(30));
        Assert.Equal("never reloaded", await page.EvaluateAsync<string?>("() => window.snapstoneSamePage ?? null"));

        // Fleet: the node counts per PoP, region and tier are the API's.
        await page.GotoAsync("/console/fleet");
        await ConsoleBrowser.WaitLiveAsync(page);
        var fleet = (await reader.Get("/v1/fleet")).Body;
        Assert.Equal(3, (int)fleet["nodes"]!);
        await Expect(page.Locator("[data-test=fleet-summary]")).ToContainTextAsync($"{(int)fleet["nodes"]!} node(s) in {fleet["pops"]!.AsArray().Count} PoP(s)");
        foreach (var pop in fleet["pops"]!.AsArray())
        {
            var row = page.Locator($"[data-test=by-pop] tr[data-pop='{(string?)pop!["pop"]}']");
            await Expect(row.Locator("td").Nth(1)).ToHaveTextAsync((string)pop["region"]!);
            await Expect(row.Locator("td").Nth(2)).ToHaveTextAsync($"{(int)pop["nodes"]!}");
            foreach (var (tier, count) in pop["byTier"]!.AsObject())
            {
                await Expect(row.Locator("td").Nth(3)).ToContainTextAsync($"{tier} {(int)count!}");
            }
        }
        foreach (var (tier, count) in fleet["byTier"]!.AsObject())
        {
            await Expect(page.Locator($"[data-test=by-tier] tr[data-tier='{tier}'] td").Nth(1)).ToHaveTextAsync($"{(int)count!}");
        }
        foreach (var (region, count) in fleet["byRegion"]!.AsObject())
        {
            await Expect(page.Locator($"[data-test=by-region] tr[data-region='{region}'] td").Nth(1)).ToHaveTextAsync($"{(int)count!}");
        }
        await Expect(page.Locator($"[data-test=by-pop] tr[data-pop='{popB}'] td").Nth(3)).ToHaveTextAsync("canary 1");
        await browser.ScreenshotAsync(page, "fleet");

        // The risk ranking: the server's order, scores and reasons, with a high-risk unit among them.
        var (defined, body) = await server.Client("ci").Put($"/v1/units/{unit}-risky", new { owner = "edge", riskTier = "high", failureMode = "fail-closed" });
        Assert.True(defined == 200, body.ToJsonString());
        await page.GotoAsync("/console/risk");
        await ConsoleBrowser.WaitLiveAsync(page);
        var pipelines = (await reader.Get("/v1/risk/pipelines")).Body["pipelines"]!.AsArray();
        Assert.Contains(pipelines, p => (string?)p!["unit"] == $"{unit}-risky");
        var rows = page.Locator("[data-test=pipelines] tbody tr");
        await Expect(rows).ToHaveCountAsync(pipelines.Count);
        for (var i = 0; i < pipelines.Count; i++)
        {
            await Expect(rows.Nth(i)).ToHaveAttributeAsync("data-unit", (string)pipelines[i]!["unit"]!);
            await Expect(rows.Nth(i).Locator("[data-test=score]")).ToHaveTextAsync($"{(int)pipelines[i]!["rankScore"]!}");
            foreach (var reason in pipelines[i]!["risk"]!["reasons"]!.AsArray())
            {
                await Expect(rows.Nth(i).Locator("[data-test=unit-risk]")).ToContainTextAsync((string)reason!);
            }
        }
        await browser.ScreenshotAsync(page, "risk");

        // The audit log: the API's entries, and the verify button reports the chain verified.
        await page.GotoAsync("/console/audit");
        await ConsoleBrowser.WaitLiveAsync(page);
        var audit = (await reader.Get("/v1/audit?limit=50")).Body["entries"]!.AsArray();
        Assert.NotEmpty(audit);
        var auditRows = page.Locator("[data-test=audit] tbody tr");
        await Expect(auditRows.First).ToHaveAttributeAsync("data-seq", $"{(long)audit[0]!["seq"]!}");
        foreach (var entry in audit)
        {
            var row = page.Locator($"[data-test=audit] tr[data-seq='{(long)entry!["seq"]!}']");
            await Expect(row).ToHaveAttributeAsync("data-action", (string)entry["action"]!);
            await Expect(row.Locator("td").Nth(2)).ToHaveTextAsync((string)entry["actor"]!);
            await Expect(row.Locator("td").Nth(4)).ToHaveTextAsync((string)entry["target"]!);
        }
        await Expect(page.Locator("[data-test=verification]")).ToHaveCountAsync(0);
        await page.Locator("[data-test=verify]").ClickAsync();
        var verification = page.Locator("[data-test=verification]");
        await Expect(verification).ToHaveAttributeAsync("data-valid", "true");
        await Expect(verification).ToContainTextAsync("every link intact");
        var verified = (await reader.Get("/v1/audit/verify")).Body;
        Assert.True((bool)verified["valid"]!);
        var shown = long.Parse(Regex.Match(await verification.InnerTextAsync(), @"Verified: (\d+) entr").Groups[1].Value);
        Assert.InRange(shown, audit.Count, (long)verified["entries"]!);
        await browser.ScreenshotAsync(page, "audit-verified");

        // Past a page: the open page offers the next one, and pages back and forth by sequence number.
        var ci = server.Client("ci");
        for (var i = 0; i < AuditPageSize; i++)
        {
            Assert.Equal(200, (await ci.Put($"/v1/units/{unit}-page-{i}", new { owner = "edge" })).Status);
        }
        var newer = page.Locator("[data-test=newer]");
        await Expect(newer).ToBeEnabledAsync();
        await Expect(auditRows).ToHaveCountAsync(AuditPageSize);
        await newer.ClickAsync();
        await Expect(auditRows.First).ToHaveAttributeAsync("data-seq", $"{AuditPageSize + 1}");
        var second = (await reader.Get($"/v1/audit?after={AuditPageSize}&limit={AuditPageSize}")).Body["entries"]!.AsArray();
        await Expect(auditRows).ToHaveCountAsync(second.Count);
        await Expect(auditRows.Last).ToHaveAttributeAsync("data-seq", $"{(long)second[^1]!["seq"]!}");
        await page.Locator("[data-test=older]").ClickAsync();
        await Expect(auditRows.First).ToHaveAttributeAsync("data-seq", "1");
        await Expect(page.Locator("[data-test=older]")).ToBeDisabledAsync();

        // An entry rewritten in storage (the storage key alone) is named by the same button.
        var table = new Azure.Data.Tables.TableClient(await TestStorage.ConnectionStringAsync(), "SnapstoneAudit");
        var third = (await table.GetEntityAsync<Azure.Data.Tables.TableEntity>(server.ServiceId, "000000000003")).Value;
        third["Reason"] = "rewritten after the fact";
        await table.UpdateEntityAsync(third, third.ETag, Azure.Data.Tables.TableUpdateMode.Merge);
        await page.Locator("[data-test=verify]").ClickAsync();
        await Expect(verification).ToHaveAttributeAsync("data-valid", "false");
        await Expect(verification).ToContainTextAsync("Broken at entry 3");
    }

    [Fact]
    public async Task A_deployer_sees_no_break_glass_action_and_is_refused_and_oncall_freezes_a_unit_through_its_confirmation()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale, nodes: 20);
        var (planned, _) = await scenario.Ci.Put("/v1/plans/slow", new
        {
            waves = new object[]
            {
                new { name = "canary", select = new { tier = "canary" }, bakeSeconds = 900 },
                new { name = "all", select = new { percent = 100 }, bakeSeconds = 2 },
            },
        });
        Assert.Equal(200, planned);
        var version = await scenario.PublishAsync(Http.Features(160));
        var id = await scenario.StartRolloutAsync(version, "a slow change", plan: "slow");
        await scenario.TickUntilState(id, "running");
        await using var browser = await ConsoleBrowser.LaunchAsync();

        // The deployer reads the freezes but is offered no action; the confirmation page and the posts refuse them.
        var deployer = await browser.SignInAsync(scenario.Server.BaseAddress, "ci");
        await deployer.GotoAsync("/console/breakglass");
        await Expect(deployer.Locator("[data-test=no-breakglass]")).ToBeVisibleAsync();
        await Expect(deployer.Locator("form[data-action]")).ToHaveCountAsync(0);
        var confirmation = await deployer.GotoAsync($"/console/breakglass/confirm?action=freeze&unit={scenario.Unit}");
        Assert.Equal(403, confirmation!.Status);
        await deployer.GotoAsync("/console/breakglass");
        var token = await deployer.Locator("header form input[name=__RequestVerificationToken]").GetAttributeAsync("value");
        Assert.False(string.IsNullOrEmpty(token));
        foreach (var action in new[] { "freeze", "rollback", "deploy", "unfreeze" })
        {
            var forged = await deployer.Context.APIRequest.PostAsync($"/console/breakglass/{action}", new()
            {
                Form = Form(deployer, ("unit", scenario.Unit), ("version", "1"), ("reason", "not mine to do"), ("expect", "x"), ("__RequestVerificationToken", token!)),
                MaxRedirects = 0,
            });
            Assert.Equal(403, forged.Status);
            Assert.Contains("lacks the 'breakglass' scope", (string?)JsonNode.Parse(await forged.TextAsync())!["detail"]);
        }
        Assert.Equal("running", (string?)(await scenario.RolloutAsync(id))["state"]);
        var admin = scenario.Server.Client("admin");
        Assert.Empty((await admin.Get("/v1/breakglass/freeze")).Body["freezes"]!.AsArray());

        // On call asks to freeze the unit for an hour: the confirmation names the unit, the TTL and the rollout it halts.
        var oncall = await browser.SignInAsync(scenario.Server.BaseAddress, "oncall");
        await oncall.GotoAsync("/console/breakglass");
        await oncall.Locator("form[data-action=freeze] input[name=unit]").FillAsync(scenario.Unit);
        await oncall.Locator("form[data-action=freeze] input[name=ttl]").FillAsync("3600");
        await oncall.Locator("form[data-action=freeze] button").ClickAsync();
        await Expect(oncall.Locator("[data-test=confirm-title]")).ToHaveTextAsync($"Freeze unit '{scenario.Unit}'");
        var willHappen = oncall.Locator("[data-test=will-happen]");
        await Expect(willHappen).ToContainTextAsync($"Freezes unit '{scenario.Unit}' for 3600 s (TTL)");
        await Expect(willHappen).ToContainTextAsync("Pauses 1 rollout(s) at once");
        await Expect(willHappen).ToContainTextAsync($"Refuses new rollouts of '{scenario.Unit}'");
        await Expect(oncall.Locator("[data-test=halts] li")).ToHaveTextAsync($"{id} ({scenario.Unit} v{version}, running)");
        await browser.ScreenshotAsync(oncall, "breakglass-confirm");
        Assert.Equal("running", (string?)(await scenario.RolloutAsync(id))["state"]);

        // The confirmation's post without its anti-forgery token is refused before anything happens.
        var expect = await oncall.Locator("form[data-action=confirm-freeze] input[name=expect]").GetAttributeAsync("value");
        var crossSite = await oncall.Context.APIRequest.PostAsync("/console/breakglass/freeze", new()
        {
            Form = Form(oncall, ("unit", scenario.Unit), ("ttl", "3600"), ("reason", "a cross-site form"), ("expect", expect!)),
            MaxRedirects = 0,
        });
        Assert.Equal(400, crossSite.Status);
        Assert.Empty((await admin.Get("/v1/breakglass/freeze")).Body["freezes"]!.AsArray());

        await oncall.Locator("form[data-action=confirm-freeze] input[name=reason]").FillAsync("edge errors rising, holding every change");
        await oncall.Locator("[data-test=confirm]").ClickAsync();
        await Expect(oncall.Locator("[data-test=notice]")).ToHaveTextAsync($"Freeze unit '{scenario.Unit}': done.");
        await Expect(oncall.Locator("[data-test=action]")).ToContainTextAsync("edge errors rising, holding every change");
        await ConsoleBrowser.WaitLiveAsync(oncall);
        await Expect(oncall.Locator($"[data-test=freezes] tr[data-unit='{scenario.Unit}']")).ToContainTextAsync("oncall");
        var paused = await scenario.TickUntilState(id, "paused");
        Assert.Contains("frozen", (string?)paused["pausedReason"]);
        var freeze = Assert.Single((await admin.Get("/v1/breakglass/freeze")).Body["freezes"]!.AsArray());
        Assert.Equal((scenario.Unit, "oncall", "edge errors rising, holding every change"), ((string?)freeze!["unit"], (string?)freeze["by"], (string?)freeze["reason"]));
        var until = DateTimeOffset.Parse((string)freeze["until"]!) - DateTimeOffset.Parse((string)freeze["at"]!);
        Assert.Equal(TimeSpan.FromSeconds(3600), until);
        await browser.ScreenshotAsync(oncall, "breakglass-frozen");

        // Lifting goes through its own confirmation, which says the rollout moves again; then it does.
        await oncall.Locator($"[data-test=freezes] tr[data-unit='{scenario.Unit}'] [data-test=lift]").ClickAsync();
        await Expect(oncall.Locator("[data-test=confirm-title]")).ToHaveTextAsync($"Lift the freeze of unit '{scenario.Unit}'");
        await Expect(oncall.Locator("[data-test=will-happen]")).ToContainTextAsync($"move again by themselves: {id}");
        await oncall.Locator("form[data-action=confirm-unfreeze] input[name=reason]").FillAsync("errors explained, not this change");
        await oncall.Locator("[data-test=confirm]").ClickAsync();
        await Expect(oncall.Locator("[data-test=notice]")).ToHaveTextAsync($"Lift the freeze of unit '{scenario.Unit}': done.");
        await scenario.TickUntilState(id, "running");
        Assert.Empty((await admin.Get("/v1/breakglass/freeze")).Body["freezes"]!.AsArray());

        // A confirmation read before the state changed does not act: the rollout it would halt was paused meanwhile.
        await oncall.GotoAsync($"/console/breakglass/confirm?action=freeze&unit={scenario.Unit}");
        await Expect(oncall.Locator("[data-test=halts] li")).ToHaveTextAsync($"{id} ({scenario.Unit} v{version}, running)");
        Assert.Equal(200, (await scenario.Ci.Post($"/v1/rollouts/{id}/pause", new { reason = "a person pauses it first" })).Status);
        await oncall.Locator("form[data-action=confirm-freeze] input[name=reason]").FillAsync("too late");
        await oncall.Locator("[data-test=confirm]").ClickAsync();
        await Expect(oncall.Locator("[data-test=notice]")).ToContainTextAsync("changed since the confirmation was shown");
        await Expect(oncall.Locator("[data-test=will-happen]")).ToContainTextAsync($"Rollout {id} ({scenario.Unit} v{version}, paused) is already paused");
        Assert.Empty((await admin.Get("/v1/breakglass/freeze")).Body["freezes"]!.AsArray());
        Assert.Equal(200, (await scenario.Ci.Post($"/v1/rollouts/{id}/resume", new { reason = "carry on" })).Status);
        await scenario.TickUntilState(id, "running");

        // Instant rollback: the confirmation names the version taken back, the target and the rollout it stops.
        await oncall.GotoAsync("/console/breakglass");
        await oncall.Locator("form[data-action=rollback] input[name=unit]").FillAsync(scenario.Unit);
        await oncall.Locator("form[data-action=rollback] button").ClickAsync();
        await Expect(oncall.Locator("[data-test=confirm-title]")).ToHaveTextAsync($"Instant rollback of unit '{scenario.Unit}'");
        await Expect(oncall.Locator("[data-test=will-happen]")).ToContainTextAsync($"Every node of '{scenario.Unit}' returns to v1 at once");
        await Expect(oncall.Locator("[data-test=will-happen]")).ToContainTextAsync($"v{version} is taken back and quarantined");
        await Expect(oncall.Locator("[data-test=halts] li")).ToHaveTextAsync($"{id} ({scenario.Unit} v{version}, running)");
        await oncall.Locator("form[data-action=confirm-rollback] input[name=reason]").FillAsync("take it back now");
        await oncall.Locator("[data-test=confirm]").ClickAsync();
        await Expect(oncall.Locator("[data-test=notice]")).ToHaveTextAsync($"Instant rollback of unit '{scenario.Unit}': done.");
        await scenario.TickUntilState(id, "rolled-back", "aborted");
        var unitView = (await scenario.Ci.Get($"/v1/units/{scenario.Unit}")).Body;
        Assert.Contains(version, unitView["quarantined"]!.AsArray().Select(v => (long)v!));
        Assert.Equal(1, (long?)unitView["lkgVersion"]);

        // Emergency deploy of the quarantined version: the confirmation says what it bypasses; it starts on the emergency plan.
        await oncall.GotoAsync("/console/breakglass");
        await oncall.Locator("form[data-action=deploy] input[name=unit]").FillAsync(scenario.Unit);
        await oncall.Locator("form[data-action=deploy] input[name=version]").FillAsync($"{version}");
        await oncall.Locator("form[data-action=deploy] button").ClickAsync();
        await Expect(oncall.Locator("[data-test=confirm-title]")).ToHaveTextAsync($"Emergency deploy of unit '{scenario.Unit}' v{version}");
        await Expect(oncall.Locator("[data-test=will-happen]")).ToContainTextAsync("on the emergency plan: a minimal canary, then every node");
        await Expect(oncall.Locator("[data-test=will-happen]")).ToContainTextAsync($"and the quarantine of v{version}");
        await Expect(oncall.Locator("[data-test=will-happen]")).ToContainTextAsync("a regression rolls it back to v1");
        await oncall.Locator("form[data-action=confirm-deploy] input[name=reason]").FillAsync("the fix is in this version after all");
        await oncall.Locator("[data-test=confirm]").ClickAsync();
        await Expect(oncall.Locator("[data-test=notice]")).ToHaveTextAsync($"Emergency deploy of unit '{scenario.Unit}' v{version}: done.");
        var deployed = await oncall.Locator("[data-test=action] a[href^='/console/rollouts/']").GetAttributeAsync("href");
        var emergency = (await scenario.Ci.Get(deployed!.Replace("/console/", "/v1/", StringComparison.Ordinal))).Body;
        Assert.Equal((version, "emergency", "oncall"), ((long)emergency["version"]!, (string?)emergency["plan"], (string?)emergency["createdBy"]));
    }

    [Fact]
    public async Task A_session_made_on_one_gateway_is_good_on_another_of_the_same_service_and_its_key_ring_is_encrypted_at_rest()
    {
        var service = TestStorage.Unique("svc");
        var cluster = new Dictionary<string, string>
        {
            ["Snapstone__Cluster__Clustering"] = "AzureTable",
            ["Snapstone__Cluster__ServiceId"] = service,
            ["Snapstone__Cluster__ClusterId"] = TestStorage.Unique("cluster"),
            ["Snapstone__Console__KeyRingKey"] = "a-test-key-ring-secret-of-forty-characters",
        };
        await using var first = await ServerProcess.StartAsync(cluster);
        await using var second = await ServerProcess.StartAsync(cluster);
        await using var browser = await ConsoleBrowser.LaunchAsync();

        // Signed in on the first gateway; the browser's cookie (cookies do not name a port) goes to the second as well.
        var page = await browser.SignInAsync(first.BaseAddress, "ci");
        var cookie = Assert.Single(await page.Context.CookiesAsync(), c => c.Name == "snapstone-console");
        await page.GotoAsync("/console/rollouts");
        var token = await page.Locator("header form input[name=__RequestVerificationToken]").GetAttributeAsync("value");

        await page.GotoAsync(new Uri(second.BaseAddress, "/console/rollouts").ToString());
        await Expect(page).ToHaveURLAsync(new Regex($"^{Regex.Escape(second.BaseAddress.ToString())}console/rollouts$"));
        await Expect(page.Locator("[data-test=who]")).ToHaveTextAsync("ci (read, deploy)");
        await ConsoleBrowser.WaitLiveAsync(page);
        Assert.Equal(cookie.Value, Assert.Single(await page.Context.CookiesAsync(), c => c.Name == "snapstone-console").Value);

        // A form rendered by the first gateway posts to the second: its anti-forgery token checks out there too.
        var signOut = await page.Context.APIRequest.PostAsync(new Uri(second.BaseAddress, "/console/signout").ToString(), new()
        {
            Form = Form(page, ("__RequestVerificationToken", token!)),
            MaxRedirects = 0,
        });
        Assert.Equal(302, signOut.Status);
        Assert.EndsWith("/console/signin?signedOut=1", signOut.Headers["location"]);

        // A gateway of another service keeps its own key ring: the same cookie is no session there.
        await using var other = ServerProcess.Prepare(ServerHost.Loopback(), null, storage: await TestStorage.ConnectionStringAsync());
        await other.StartAgainAsync(TimeSpan.FromSeconds(180)); // a third server on a busy machine
        var elsewhere = await browser.NewPageAsync(other.BaseAddress);
        await elsewhere.Context.AddCookiesAsync([new Cookie { Name = cookie.Name, Value = cookie.Value, Domain = cookie.Domain, Path = "/" }]);
        await elsewhere.GotoAsync("/console/rollouts");
        await Expect(elsewhere).ToHaveURLAsync(new Regex("/console/signin\\?returnUrl="));

        // The key ring is one blob of the service, its keys encrypted under the configured key.
        var blob = new BlobContainerClient(await TestStorage.ConnectionStringAsync(), "snapstone-packages").GetBlobClient($"{service}/console/key-ring.xml");
        var ring = (await blob.DownloadContentAsync()).Value.Content.ToString();
        Assert.Contains("<encryptedKey algorithm=\"AES-256-GCM\"", ring);
        Assert.DoesNotContain("<masterKey", ring);
        Assert.Single(Regex.Matches(ring, "<key id="));
    }

    /// <summary>The audit page's size (<c>AuditPanel.PageSize</c>).</summary>
    private const int AuditPageSize = OperatorConsole.Shared.AuditPanel.PageSize;

    private static IFormData Form(IPage page, params (string Name, string Value)[] fields)
    {
        var form = page.Context.APIRequest.CreateFormData();
        foreach (var (name, value) in fields)
        {
            form.Set(name, value);
        }
        return form;
    }
}
