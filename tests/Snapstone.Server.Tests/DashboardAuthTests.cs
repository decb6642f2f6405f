using System.Net;
using System.Net.Http.Headers;
using Snapstone.Server.Hosting;
using Snapstone.Server.Http;
using Snapstone.Testing;

namespace Snapstone.Server.Tests;

/// <summary>The Orleans dashboard is for admins only, its trace view is off; the OpenAPI document stays public.</summary>
[Collection(ServerCollection.Name)]
public sealed class DashboardAuthTests(ServerFixture fixture)
{
    /// <summary>The dashboard's page and the JSON endpoints its script reads (hosts, silos, grains, reminders).</summary>
    public static readonly TheoryData<string> DashboardPaths = new()
    {
        "/dashboard/", "/dashboard/index.html", "/dashboard/DashboardCounters", "/dashboard/ClusterStats", "/dashboard/Reminders",
        "/dashboard/GrainTypes", "/dashboard/TopGrainMethods", "/dashboard/version", "/dashboard/Trace",
    };

    [Theory]
    [MemberData(nameof(DashboardPaths))]
    public async Task Anonymous_requests_to_the_dashboard_are_401_and_a_token_without_admin_is_403(string path)
    {
        using var anonymous = fixture.Server.Client(null);
        var (status, problem) = await anonymous.Get(path);
        Assert.Equal(401, status);
        Assert.Contains("the dashboard needs an admin token", (string?)problem["detail"]);

        var (forbidden, refusal) = await fixture.Server.Client("reader").Get(path);
        Assert.Equal(403, forbidden);
        Assert.Equal("token 'reader' lacks the 'admin' scope the dashboard needs", (string?)refusal["detail"]);
    }

    [Fact]
    public async Task An_admin_token_opens_the_dashboard_and_its_data_but_not_the_live_log()
    {
        using var admin = fixture.Server.Client("admin");
        using var page = await admin.GetAsync("/dashboard/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<html", await page.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        var (stats, cluster) = await admin.Get("/dashboard/ClusterStats");
        Assert.Equal(200, stats);
        Assert.NotNull(cluster);
        // The trace view streams the live log, with reasons and actors: hidden even from admins.
        using var trace = await admin.GetAsync("/dashboard/Trace");
        Assert.Equal(HttpStatusCode.Forbidden, trace.StatusCode);
    }

    [Fact]
    public async Task A_person_signs_in_with_an_admin_token_and_gets_an_http_only_same_site_strict_session_cookie()
    {
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = fixture.Server.BaseAddress };

        browser.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("text/html"));
        using (var challenge = await browser.GetAsync("/dashboard/"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, challenge.StatusCode);
            Assert.Contains("<form method=\"post\" action=\"/dashboard/signin\">", await challenge.Content.ReadAsStringAsync());
        }

        using (var wrong = await SignIn(browser, "not-a-token-anyone-has"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
            Assert.False(wrong.Headers.Contains("Set-Cookie"));
        }
        using (var reader = await SignIn(browser, ServerProcess.Tokens["reader"].Token))
        {
            Assert.Equal(HttpStatusCode.Forbidden, reader.StatusCode);
            Assert.False(reader.Headers.Contains("Set-Cookie"));
        }

        using var signedIn = await SignIn(browser, ServerProcess.Tokens["admin"].Token);
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        Assert.Equal("/dashboard/", signedIn.Headers.Location?.ToString());
        var setCookie = Assert.Single(signedIn.Headers.GetValues("Set-Cookie"));
        var attributes = setCookie.Split(';', StringSplitOptions.TrimEntries).Skip(1).Select(a => a.ToLowerInvariant()).ToList();
        Assert.Contains("httponly", attributes);
        Assert.Contains("samesite=strict", attributes);
        Assert.Contains("path=/dashboard", attributes);
        var cookie = setCookie.Split(';')[0];
        Assert.DoesNotContain(ServerProcess.Tokens["admin"].Token, cookie);

        Assert.Equal(HttpStatusCode.OK, await Status(browser, "/dashboard/ClusterStats", cookie));
        Assert.Equal(HttpStatusCode.OK, await Status(browser, "/dashboard/", cookie));
        // A forged or altered session is no session.
        Assert.Equal(HttpStatusCode.Unauthorized, await Status(browser, "/dashboard/ClusterStats", cookie[..^1] + (cookie[^1] == '0' ? '1' : '0')));
        Assert.Equal(HttpStatusCode.Unauthorized, await Status(browser, "/dashboard/ClusterStats", "snapstone-dashboard=99999999999.00"));
        // The cookie opens the dashboard only, not the API.
        Assert.Equal(HttpStatusCode.Unauthorized, await Status(browser, "/v1/units", cookie));
    }

    [Fact]
    public void A_session_expires_and_ends_when_its_token_is_removed_or_loses_admin()
    {
        var now = new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
        var admin = new TokenOptions { Name = "oncall", Token = "an-admin-token-000001", Scopes = ["admin"] };
        var auth = new AuthOptions { Tokens = [admin] };
        var session = DashboardAccess.Tokens.Seal(admin, now.AddMinutes(10));

        Assert.Equal("oncall", DashboardAccess.Tokens.Open(auth, session, now)?.Name);
        Assert.Null(DashboardAccess.Tokens.Open(auth, session, now.AddMinutes(11)));
        Assert.Null(DashboardAccess.Tokens.Open(new AuthOptions { Tokens = [new TokenOptions { Name = "oncall", Token = "a-rotated-token-00002", Scopes = ["admin"] }] }, session, now));
        Assert.Null(DashboardAccess.Tokens.Open(new AuthOptions { Tokens = [new TokenOptions { Name = "oncall", Token = admin.Token, Scopes = ["read"] }] }, session, now));
        // A token configured by its hash seals and opens the same session as the token itself.
        var hashed = new TokenOptions { Name = "oncall", TokenSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("an-admin-token-000001"u8)), Scopes = ["admin"] };
        Assert.Equal("oncall", DashboardAccess.Tokens.Open(new AuthOptions { Tokens = [hashed] }, session, now)?.Name);
    }

    [Fact]
    public async Task The_openapi_document_stays_anonymous()
    {
        using var anonymous = fixture.Server.Client(null);
        var (status, document) = await anonymous.Get("/openapi/v1.json");
        Assert.Equal(200, status);
        Assert.Contains("/v1/units/{unit}", document["paths"]!.AsObject().Select(p => p.Key));
    }

    private static Task<HttpResponseMessage> SignIn(HttpClient browser, string token) =>
        browser.PostAsync("/dashboard/signin", new FormUrlEncodedContent([new KeyValuePair<string, string>("token", token)]));

    private static async Task<HttpStatusCode> Status(HttpClient browser, string path, string cookie)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("Cookie", cookie);
        using var response = await browser.SendAsync(request);
        return response.StatusCode;
    }
}
