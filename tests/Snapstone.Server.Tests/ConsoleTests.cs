using Microsoft.Playwright;
using Snapstone.Simulator.Consumers;
using Snapstone.Testing;
using static Microsoft.Playwright.Assertions;

namespace Snapstone.Server.Tests;

/// <summary>
/// The operators' console in a real browser (Debian's Chromium driven by Playwright) against the real server and a
/// simulated fleet: sessions made from tokens, live pages, and actions only the session's scopes allow.
/// </summary>
public sealed class ConsoleTests
{
    static ConsoleTests() => SetDefaultExpectTimeout(30_000);

    [Fact]
    public async Task A_deployer_watches_waves_advance_live_cannot_approve_and_an_approver_in_a_second_session_can()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale);
        await using var browser = await ConsoleBrowser.LaunchAsync();
        var deployer = await browser.SignInAsync(scenario.Server.BaseAddress, "ci");

        // A good package on the three-wave plan: the page, loaded once, follows every wave to the end.
        var good = await scenario.PublishAsync(Http.Features(160));
        var id = await scenario.StartRolloutAsync(good, "console walk-through");
        await deployer.GotoAsync($"/console/rollouts/{id}");
        await ConsoleBrowser.WaitLiveAsync(deployer);
        await deployer.EvaluateAsync("() => { window.snapstoneSamePage = 'never reloaded'; }");
        Assert.NotEqual("passed", await WaveStateAsync(deployer, "canary"));
        await scenario.TickUntil(async () => await WaveStateAsync(deployer, "canary") == "passed", "the page to show the canary wave passed");
        Assert.NotEqual("passed", await WaveStateAsync(deployer, "all"));
        await scenario.TickUntil(async () => await StateAsync(deployer) == "completed", "the page to show the rollout completed");
        Assert.Equal("never reloaded", await deployer.EvaluateAsync<string?>("() => window.snapstoneSamePage ?? null"));
        var done = await scenario.RolloutAsync(id);
        foreach (var wave in done["waves"]!.AsArray())
        {
            var row = deployer.Locator($"[data-test=waves] tr[data-wave='{(string?)wave!["name"]}']");
            await Expect(row).ToHaveAttributeAsync("data-state", "passed");
            await Expect(row.Locator("td").Nth(2)).ToHaveTextAsync($"{(int?)wave["targeted"]}");
            await Expect(row.Locator("td").Nth(3)).ToHaveTextAsync($"{(int?)wave["applied"]}");
            foreach (var reason in wave["verdict"]!["reasons"]!.AsArray())
            {
                await Expect(row.Locator("[data-test=verdict]")).ToContainTextAsync((string)reason!);
            }
        }
        await browser.ScreenshotAsync(deployer, "rollout-completed");

        // A plan whose canary wave needs a second person.
        var (planned, _) = await scenario.Ci.Put("/v1/plans/gated", new
        {
            waves = new object[]
            {
                new { name = "canary", select = new { tier = "canary" }, bakeSeconds = 2, requiresApproval = true },
                new { name = "all", select = new { percent = 100 }, bakeSeconds = 2 },
            },
        });
        Assert.Equal(200, planned);
        var next = await scenario.PublishAsync(Http.Features(170));
        var gated = await scenario.StartRolloutAsync(next, "needs a second person", plan: "gated");
        await scenario.TickUntilState(gated, "awaiting-approval");
        await deployer.GotoAsync($"/console/rollouts/{gated}");
        await ConsoleBrowser.WaitLiveAsync(deployer);
        await Expect(deployer.Locator("[data-test=state]")).ToHaveTextAsync("awaiting-approval");
        await Expect(deployer.Locator("form[data-action=pause]")).ToBeVisibleAsync();
        await Expect(deployer.Locator("form[data-action=abort]")).ToBeVisibleAsync();
        await Expect(deployer.Locator("form[data-action=approve]")).ToHaveCountAsync(0);

        // The button is absent, and the post it would make is refused even with a valid anti-forgery token.
        var antiforgery = await deployer.Locator("form[data-action=pause] input[name=__RequestVerificationToken]").GetAttributeAsync("value");
        Assert.False(string.IsNullOrEmpty(antiforgery));
        var forged = await deployer.Context.APIRequest.PostAsync($"/console/rollouts/{gated}/approve", new()
        {
            Form = Form(deployer, ("reason", "approving my own change"), ("__RequestVerificationToken", antiforgery!)),
            MaxRedirects = 0,
        });
        Assert.Equal(403, forged.Status);
        Assert.Contains("lacks the 'approve' scope", (string?)System.Text.Json.Nodes.JsonNode.Parse(await forged.TextAsync())!["detail"]);
        // The same session's post without the anti-forgery token (what another site's form would send) is refused too.
        var crossSite = await deployer.Context.APIRequest.PostAsync($"/console/rollouts/{gated}/abort", new()
        {
            Form = Form(deployer, ("reason", "a cross-site form")),
            MaxRedirects = 0,
        });
        Assert.Equal(400, crossSite.Status);
        Assert.Equal("awaiting-approval", (string?)(await scenario.RolloutAsync(gated))["state"]);

        // The deployer pauses and resumes from the page, each with a reason; the buttons follow the state.
        await deployer.Locator("form[data-action=pause] input[name=reason]").FillAsync("holding for the change window");
        await deployer.Locator("form[data-action=pause] button").ClickAsync();
        await Expect(deployer.Locator("[data-test=done]")).ToContainTextAsync("pause");
        await ConsoleBrowser.WaitLiveAsync(deployer);
        await Expect(deployer.Locator("[data-test=state]")).ToHaveTextAsync("paused");
        await Expect(deployer.Locator("[data-test=paused-reason]")).ToHaveTextAsync("holding for the change window");
        await Expect(deployer.Locator("form[data-action=pause]")).ToHaveCountAsync(0);
        await deployer.Locator("form[data-action=resume] input[name=reason]").FillAsync("change window open");
        await deployer.Locator("form[data-action=resume] button").ClickAsync();
        await Expect(deployer.Locator("[data-test=done]")).ToContainTextAsync("resume");
        await ConsoleBrowser.WaitLiveAsync(deployer);
        await scenario.TickUntilState(gated, "awaiting-approval");
        await Expect(deployer.Locator("[data-test=state]")).ToHaveTextAsync("awaiting-approval");
        var paused = await scenario.RolloutAsync(gated);
        Assert.Contains(paused["timeline"]!.AsArray(), e => (string?)e!["type"] == "resumed" && ((string?)e["message"])!.Contains("resumed by ci"));

        // A reviewer, in a second browser context, approves from the page; they may not pause or abort.
        var reviewer = await browser.SignInAsync(scenario.Server.BaseAddress, "reviewer");
        await reviewer.GotoAsync($"/console/rollouts/{gated}");
        await ConsoleBrowser.WaitLiveAsync(reviewer);
        await Expect(reviewer.Locator("form[data-action=pause]")).ToHaveCountAsync(0);
        await Expect(reviewer.Locator("form[data-action=abort]")).ToHaveCountAsync(0);
        await reviewer.Locator("form[data-action=approve] input[name=reason]").FillAsync("reviewed in the console");
        await reviewer.Locator("form[data-action=approve] button").ClickAsync();
        await Expect(reviewer.Locator("[data-test=done]")).ToContainTextAsync("approve");
        var approved = await scenario.RolloutAsync(gated);
        Assert.Equal("reviewer", (string?)approved["waves"]![0]!["approvedBy"]);
        Assert.Contains(approved["timeline"]!.AsArray(), e => (string?)e!["type"] == "approved" && ((string?)e["message"])!.Contains("reviewed in the console"));

        // The deployer's page, still open, follows the approved rollout to its end.
        await scenario.TickUntil(async () => await StateAsync(deployer) == "completed", "the deployer's page to show the approved rollout completed");
        await Expect(deployer.Locator("[data-test=waves] tr[data-wave=canary]")).ToContainTextAsync("approved by reviewer");

        // The list shows both rollouts with their strips.
        await deployer.GotoAsync("/console/");
        await Expect(deployer.Locator($"[data-test=recent] tr[data-rollout='{gated}'] .seg")).ToHaveCountAsync(2);
        await Expect(deployer.Locator($"[data-test=recent] tr[data-rollout='{id}'] .seg.passed")).ToHaveCountAsync(3);

        // The unit's page: the LKG, each package's validation and risk, and a diff of the newest against the first
        // (indented JSON: the old last item gains a comma, 20 items follow it).
        await deployer.GotoAsync($"/console/units/{scenario.Unit}?diff={next}&against=1");
        await Expect(deployer.Locator("[data-test=lkg]")).ToHaveTextAsync($"v{next}");
        await Expect(deployer.Locator($"[data-test=packages] tr[data-version='{next}']")).ToContainTextAsync("(LKG)");
        await Expect(deployer.Locator($"[data-test=packages] tr[data-version='{next}'] [data-test=validation]")).ToContainTextAsync("passed");
        await Expect(deployer.Locator("[data-test=diff-summary]")).ToHaveTextAsync("+21 −1 line(s)");
        await Expect(deployer.Locator("[data-test=diff] tr[data-type=added]")).ToHaveCountAsync(21);
        await Expect(deployer.Locator("[data-test=diff] tr[data-type=removed]")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("− +\"f149\"$"));
        await Expect(deployer.Locator("[data-test=diff] tr[data-type=added]").Last).ToContainTextAsync("\"f169\"");
    }

    [Fact]
    public async Task A_bad_package_rolls_back_and_the_page_shows_why()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailClosed);
        await using var browser = await ConsoleBrowser.LaunchAsync();
        var deployer = await browser.SignInAsync(scenario.Server.BaseAddress, "ci");
        var bad = await scenario.PublishAsync(Http.Features(201));
        var id = await scenario.StartRolloutAsync(bad, "a package the consumers crash on");
        await deployer.GotoAsync($"/console/rollouts/{id}");
        await ConsoleBrowser.WaitLiveAsync(deployer);

        await scenario.TickUntil(async () => await StateAsync(deployer) == "rolled-back", "the page to show the rollout rolled back");
        var done = await scenario.RolloutAsync(id);
        var canary = deployer.Locator("[data-test=waves] tr[data-wave=canary]");
        await Expect(canary).ToHaveAttributeAsync("data-state", "failed");
        var wave = done["waves"]![0]!;
        var reasons = wave["verdict"] is { } verdict ? verdict["reasons"]!.AsArray().Select(r => (string)r!).ToList() : [(string)done["rollback"]!["reason"]!];
        Assert.NotEmpty(reasons);
        foreach (var reason in reasons)
        {
            await Expect(canary.Locator("[data-test=verdict]")).ToContainTextAsync(reason);
        }
        await Expect(canary.Locator("td").Nth(6)).ToHaveTextAsync($"{(int?)wave["unhealthy"]}");
        await Expect(deployer.Locator("[data-test=rollback]")).ToContainTextAsync((string)done["rollback"]!["reason"]!);
        await Expect(deployer.Locator("[data-test=timeline] tr[data-type=rolled-back]")).ToHaveCountAsync(1);
        await Expect(deployer.Locator("[data-test=actions]")).ToHaveCountAsync(0);
        await browser.ScreenshotAsync(deployer, "rollout-rolled-back");

        // From the rollout to its unit: the bad version quarantined, the LKG kept, and what the bad version changed.
        await deployer.Locator("[data-test=unit-link]").ClickAsync();
        await Expect(deployer.Locator("[data-test=quarantined]")).ToHaveTextAsync($"v{bad}");
        await Expect(deployer.Locator("[data-test=lkg]")).ToHaveTextAsync("v1");
        await Expect(deployer.Locator($"[data-test=packages] tr[data-version='{bad}']")).ToHaveAttributeAsync("data-state", "quarantined");
        await Expect(deployer.Locator("[data-test=diff-title]")).ToContainTextAsync($"v{bad} against v1");
        await Expect(deployer.Locator("[data-test=diff-summary]")).ToHaveTextAsync("+52 −1 line(s)");
        await Expect(deployer.Locator("[data-test=diff] tr[data-type=added]").Last).ToContainTextAsync("\"f200\"");
        await browser.ScreenshotAsync(deployer, "unit-diff");

        // The rollback's incident, where notifications link: its timeline and its rollout; only breakglass may post an update.
        var incident = await Eventually.Until(async () => (await scenario.Ci.Get("/v1/incidents")).Body["incidents"]!.AsArray()
            .FirstOrDefault(i => (string?)i!["source"] == id), i => i is not null, $"an incident opened by rollout {id}");
        var incidentId = (string)incident!["id"]!;
        await deployer.GotoAsync("/console/incidents");
        await deployer.Locator($"[data-test=incidents] tr[data-incident='{incidentId}'] a").ClickAsync();
        await Expect(deployer.Locator("h1")).ToContainTextAsync((string)incident["title"]!);
        await Expect(deployer.Locator($"a[href='/console/rollouts/{id}']")).ToHaveCountAsync(1);
        await Expect(deployer.Locator("[data-test=timeline] tr")).ToHaveCountAsync(incident["updates"]!.AsArray().Count);
        await Expect(deployer.Locator("form[data-action=update]")).ToHaveCountAsync(0);
        var oncall = await browser.SignInAsync(scenario.Server.BaseAddress, "oncall");
        await oncall.GotoAsync($"/console/incidents/{incidentId}");
        await oncall.Locator("form[data-action=update] select").SelectOptionAsync("Monitoring");
        await oncall.Locator("form[data-action=update] input[name=message]").FillAsync("edge error rates back to normal");
        await oncall.Locator("form[data-action=update] button").ClickAsync();
        await Expect(oncall.Locator("[data-test=notice]")).ToHaveTextAsync("update posted");
        await Expect(oncall.Locator("[data-test=timeline] tr").First).ToContainTextAsync("edge error rates back to normal");
        await Expect(oncall.Locator("[data-test=status]")).ToHaveTextAsync("monitoring");
    }

    [Fact]
    public async Task The_rollout_page_charts_the_canary_cohort_against_its_control_live_with_the_figures_the_evidence_endpoint_gives()
    {
        await using var scenario = await RolloutScenario.StartAsync(FailureMode.FailStale);
        await using var browser = await ConsoleBrowser.LaunchAsync();
        var reader = await browser.SignInAsync(scenario.Server.BaseAddress, "reader");
        var good = await scenario.PublishAsync(Http.Features(160));
        var id = await scenario.StartRolloutAsync(good, "charted in the console");
        await reader.GotoAsync($"/console/rollouts/{id}");
        await ConsoleBrowser.WaitLiveAsync(reader);
        await reader.EvaluateAsync("() => { window.snapstoneSamePage = 'never reloaded'; }");

        // A wave not reached has nothing to chart, and says so.
        await reader.Locator("[data-test=wave-picker] button[data-wave=all]").ClickAsync();
        await Expect(reader.Locator("[data-test=bake-chart][data-wave='2'] [data-test=no-looks]")).ToHaveTextAsync("No looks recorded for wave 2 (all) yet.");

        // The canary's chart appears on the open page as its looks are recorded, and stays to the end of the rollout.
        await reader.Locator("[data-test=wave-picker] button[data-wave=canary]").ClickAsync();
        var chart = reader.Locator("[data-test=bake-chart][data-wave='0']");
        await scenario.TickUntil(async () => await chart.Locator("[data-test=figures]").CountAsync() == 1, "the page to chart the canary's looks");
        await scenario.TickUntil(async () => await StateAsync(reader) == "completed", "the page to show the rollout completed");
        Assert.Equal("never reloaded", await reader.EvaluateAsync<string?>("() => window.snapstoneSamePage ?? null"));

        // Two panels, each a cohort line and a control line drawn through points, with axis labels and a legend.
        await Expect(chart.Locator("[data-test=panel]")).ToHaveCountAsync(2);
        foreach (var panel in new[] { "error-rate", "p99" })
        {
            var figure = chart.Locator($"[data-panel={panel}]");
            foreach (var series in new[] { "cohort", "control" })
            {
                Assert.Matches(@"^M\d+(\.\d)?,\d+(\.\d)?", await figure.Locator($"svg path[data-series={series}]").GetAttributeAsync("d") ?? "");
            }
            await Expect(figure.Locator("svg text.axis")).ToHaveCountAsync(2);
            await Expect(figure.Locator("figcaption")).ToContainTextAsync("cohort");
            await Expect(figure.Locator("figcaption")).ToContainTextAsync("control");
        }

        // The figures beside it are the latest look's, as GET /v1/rollouts/{id}/evidence?wave=0 answers them.
        var (read, evidence) = await scenario.Server.Client("reader").Get($"/v1/rollouts/{id}/evidence?wave=0");
        Assert.Equal(200, read);
        var looks = evidence["looks"]!.AsArray();
        var latest = looks.MaxBy(l => DateTimeOffset.Parse((string)l!["at"]!, System.Globalization.CultureInfo.InvariantCulture))!;
        await Expect(chart.Locator("[data-test=look]")).ToContainTextAsync($"{looks.Count} look(s) recorded");
        await Expect(chart.Locator("[data-test=look] strong")).ToHaveTextAsync((string)latest["verdict"]!["result"]!);
        foreach (var side in new[] { "cohort", "control" })
        {
            var figures = chart.Locator($"[data-test=figures] [data-side={side}]");
            var expected = latest[side]!;
            Assert.True((int)expected["reporting"]! > 0, $"the {side} of the canary's latest look counted no node: {expected.ToJsonString()}");
            await Expect(figures.Locator("[data-figure=error-rate]")).ToHaveTextAsync(((double)expected["errorRate"]! * 100).ToString("0.###", System.Globalization.CultureInfo.InvariantCulture) + "%");
            await Expect(figures.Locator("[data-figure=p99]")).ToHaveTextAsync(((double)expected["p99LatencyMs"]!).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture) + " ms");
            await Expect(figures.Locator("[data-figure=reporting]")).ToHaveTextAsync($"{(int)expected["reporting"]!}");
            await Expect(figures.Locator("[data-figure=nodes]")).ToHaveTextAsync($"{(int)expected["nodes"]!}");
            await Expect(figures.Locator("[data-figure=requests]")).ToHaveTextAsync($"{(long)expected["requests"]!}");
        }
        await browser.ScreenshotAsync(reader, "rollout-chart");
    }

    [Fact]
    public async Task Only_a_known_token_with_read_signs_in_and_the_session_cookie_is_not_a_token()
    {
        await using var server = await ServerProcess.StartAsync();
        await using var browser = await ConsoleBrowser.LaunchAsync();
        var page = await browser.NewPageAsync(server.BaseAddress);

        // Pages ask for a session first, and come back to where they were asked for.
        await page.GotoAsync("/console/rollouts");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/console/signin\\?returnUrl=%2Fconsole%2Frollouts$"));

        await page.FillAsync("#token", "not-a-token-this-server-knows");
        await page.ClickAsync("form.signin button");
        await Expect(page.Locator("[data-test=signin-error]")).ToContainTextAsync("not one this server knows");
        Assert.DoesNotContain(await page.Context.CookiesAsync(), c => c.Name == "snapstone-console");

        await page.FillAsync("#token", ServerProcess.Tokens["agent"].Token);
        await page.ClickAsync("form.signin button");
        await Expect(page.Locator("[data-test=signin-error]")).ToContainTextAsync("no read scope");
        Assert.DoesNotContain(await page.Context.CookiesAsync(), c => c.Name == "snapstone-console");

        // A sign-in post without the form's anti-forgery token is refused before the token is looked at.
        var forged = await page.Context.APIRequest.PostAsync("/console/signin", new() { Form = Form(page, ("token", ServerProcess.Tokens["admin"].Token)), MaxRedirects = 0 });
        Assert.Equal(400, forged.Status);
        Assert.DoesNotContain(await page.Context.CookiesAsync(), c => c.Name == "snapstone-console");

        await page.GotoAsync("/console/rollouts");
        await page.FillAsync("#token", ServerProcess.Tokens["reader"].Token);
        await page.ClickAsync("form.signin button");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/console/rollouts$"));
        await Expect(page.Locator("[data-test=who]")).ToHaveTextAsync("reader (read)");
        var session = Assert.Single(await page.Context.CookiesAsync(), c => c.Name == "snapstone-console");
        Assert.True(session.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, session.SameSite);
        Assert.Equal(-1, session.Expires);
        Assert.DoesNotContain(ServerProcess.Tokens["reader"].Token, session.Value);

        // Signing in again with another token, from a signed-in browser, replaces the session.
        await page.GotoAsync("/console/signin");
        await page.FillAsync("#token", ServerProcess.Tokens["ci"].Token);
        await page.ClickAsync("form.signin button");
        await Expect(page.Locator("[data-test=who]")).ToHaveTextAsync("ci (read, deploy)");
        Assert.Single(await page.Context.CookiesAsync(), c => c.Name == "snapstone-console");

        // The HTTP API reads bearer tokens only: the console's cookie opens nothing there.
        var api = await page.Context.APIRequest.GetAsync("/v1/units");
        Assert.Equal(401, api.Status);

        // The framework's script is public; the live pages' circuit hub wants a session like the pages do; the API
        // document lists none of the console's routes.
        using var anonymous = server.Client(null);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await anonymous.GetAsync("/_framework/blazor.web.js")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await anonymous.PostAsync("/_blazor/negotiate?negotiateVersion=1", null)).StatusCode);
        var (_, openapi) = await anonymous.Get("/openapi/v1.json");
        Assert.DoesNotContain(openapi["paths"]!.AsObject(), p => p.Key.StartsWith("/console", StringComparison.Ordinal) || p.Key.StartsWith("/_", StringComparison.Ordinal));

        // A link to another site is not followed after sign-in.
        Assert.Equal("/console/", OperatorConsole.ConsoleSetup.LocalConsolePath("https://elsewhere.example/console"));
        Assert.Equal("/console/", OperatorConsole.ConsoleSetup.LocalConsolePath("//elsewhere.example/console"));

        await page.ClickAsync("header form button");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/console/signin\\?signedOut=1$"));
        Assert.DoesNotContain(await page.Context.CookiesAsync(), c => c.Name == "snapstone-console");
        await page.GotoAsync("/console/");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/console/signin"));
    }

    private static Task<string?> WaveStateAsync(IPage page, string wave) =>
        page.Locator($"[data-test=waves] tr[data-wave='{wave}']").GetAttributeAsync("data-state");

    private static Task<string> StateAsync(IPage page) => page.Locator("[data-test=state]").InnerTextAsync();

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

/// <summary>Headless Chromium for the console tests: one browser, a fresh context (its own cookies) per person.</summary>
internal sealed class ConsoleBrowser : IAsyncDisposable
{
    private readonly IPlaywright _playwright;
    private readonly IBrowser _browser;

    private ConsoleBrowser(IPlaywright playwright, IBrowser browser)
    {
        _playwright = playwright;
        _browser = browser;
    }

    /// <summary>Where screenshots go: the test output folder's <c>artifacts/console</c>.</summary>
    public static string Artifacts => Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "artifacts", "console")).FullName;

    public static async Task<ConsoleBrowser> LaunchAsync()
    {
        if (!File.Exists(HeadlessBrowser.Executable))
        {
            throw new FileNotFoundException($"no Chromium at {HeadlessBrowser.Executable}: install Debian's chromium (apt-get install chromium) or set SNAPSTONE_CHROMIUM");
        }
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = HeadlessBrowser.Executable,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        return new ConsoleBrowser(playwright, browser);
    }

    public async Task<IPage> NewPageAsync(Uri server)
    {
        var context = await _browser.NewContextAsync(new() { BaseURL = server.ToString(), ViewportSize = new() { Width = 1200, Height = 900 } });
        return await context.NewPageAsync();
    }

    /// <summary>A new context (a second person has their own cookies) signed in with the named test token.</summary>
    public async Task<IPage> SignInAsync(Uri server, string token)
    {
        var page = await NewPageAsync(server);
        await page.GotoAsync("/console/signin");
        await page.FillAsync("#token", ServerProcess.Tokens[token].Token);
        await page.ClickAsync("form.signin button");
        await Expect(page.Locator("[data-test=who]")).ToContainTextAsync($"{token} (");
        return page;
    }

    /// <summary>Waits until the page's live part runs interactively (its circuit is up), so what it shows next is pushed, not reloaded.</summary>
    public static Task WaitLiveAsync(IPage page) =>
        Expect(page.Locator("[data-live]").First).ToHaveAttributeAsync("data-live", "live");

    public async Task ScreenshotAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new() { Path = Path.Combine(Artifacts, name + ".png"), FullPage = true });

    public async ValueTask DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
    }
}
