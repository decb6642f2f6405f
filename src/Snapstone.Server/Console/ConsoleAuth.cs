using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using Snapstone.Server.Http;

namespace Snapstone.Server.OperatorConsole;

/// <summary>
/// The console's session: a bearer token (<c>Snapstone:Auth:Tokens</c>) is presented once on the sign-in form and
/// exchanged for an encrypted, HttpOnly, SameSite=Strict cookie that holds the token's name, its scopes and a
/// fingerprint of its hash, never the token. Every request re-checks the cookie against the configured tokens, so a
/// token removed or rotated in configuration ends its sessions, and a scope taken away is gone at the next request.
/// </summary>
public static class ConsoleAuth
{
    public const string Scheme = "SnapstoneConsole";
    public const string CookieName = "snapstone-console";
    public const string FingerprintClaim = "token-fingerprint";
    public const string SignInPath = "/console/signin";

    /// <summary>A session idle this long ends; each request in its second half renews it (sliding expiry).</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromHours(8);

    /// <summary>The configured token whose secret is <paramref name="presented"/>: compared by SHA-256 in constant time, as the HTTP API does.</summary>
    public static TokenOptions? Find(AuthOptions options, string presented) => AuthSetup.Find(options, presented);

    /// <summary>Names the token's secret without revealing it: a hash of its hash, so a rotated token ends its sessions.</summary>
    public static string Fingerprint(TokenOptions token) =>
        Convert.ToHexStringLower(SHA256.HashData([.. Encoding.UTF8.GetBytes("snapstone-console-session\n"), .. AuthSetup.HashOf(token) ?? []]))[..32];

    public static ClaimsPrincipal Principal(TokenOptions token)
    {
        var claims = new List<Claim> { new(ClaimTypes.Name, token.Name), new(FingerprintClaim, Fingerprint(token)) };
        claims.AddRange(token.Scopes.Distinct().Select(s => new Claim(Scopes.ClaimType, s)));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, Scheme));
    }

    /// <summary>May this principal use the console at all? It shows what <c>read</c> shows; an agent's token has no business here.</summary>
    public static bool MayUse(ClaimsPrincipal user) => AuthSetup.Has(user, Scopes.Read);

    /// <summary>The scopes the signed-in person holds (admin holds them all), as the pages decide which buttons to draw.</summary>
    public static IReadOnlySet<string> ScopesOf(ClaimsPrincipal user) =>
        Scopes.All.Where(s => AuthSetup.Has(user, s)).ToHashSet(StringComparer.Ordinal);

    /// <summary>The same named policy as the HTTP endpoint's, evaluated against the console's session instead of a bearer token.</summary>
    public static AuthorizeAttribute Session(string scope) => new(scope) { AuthenticationSchemes = Scheme };

    internal static void Configure(CookieAuthenticationOptions o)
    {
        o.Cookie.Name = CookieName;
        o.Cookie.HttpOnly = true;
        o.Cookie.SameSite = SameSiteMode.Strict;
        o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        o.Cookie.Path = "/";
        o.ExpireTimeSpan = IdleTimeout;
        o.SlidingExpiration = true;
        o.LoginPath = SignInPath;
        o.ReturnUrlParameter = "returnUrl";
        o.Events = new CookieAuthenticationEvents
        {
            OnValidatePrincipal = Revalidate,
            // A page asks the browser to sign in; anything else (a form post, a script) is told plainly.
            OnRedirectToLogin = c =>
            {
                if (HttpMethods.IsGet(c.Request.Method))
                {
                    c.Response.Redirect(c.RedirectUri);
                    return Task.CompletedTask;
                }
                return Problems.WriteAsync(c.HttpContext, StatusCodes.Status401Unauthorized, "sign in to the console first (POST /console/signin with a token)");
            },
            OnRedirectToAccessDenied = c =>
            {
                var needed = c.HttpContext.GetEndpoint()?.Metadata.GetOrderedMetadata<IAuthorizeData>()
                    .Select(a => a.Policy).LastOrDefault(p => p is not null) ?? "another";
                return Problems.WriteAsync(c.HttpContext, StatusCodes.Status403Forbidden,
                    $"token '{c.HttpContext.User.Identity?.Name}' lacks the '{needed}' scope this action needs");
            },
        };
    }

    /// <summary>Ends a session whose token is gone or rotated; refreshes its scopes from configuration otherwise.</summary>
    private static async Task Revalidate(CookieValidatePrincipalContext context)
    {
        var auth = context.HttpContext.RequestServices.GetRequiredService<IOptionsMonitor<AuthOptions>>().CurrentValue;
        var principal = context.Principal;
        var name = principal?.Identity?.Name;
        var token = auth.Tokens.FirstOrDefault(t => t.Name == name);
        if (principal is null || token is null || principal.FindFirst(FingerprintClaim)?.Value != Fingerprint(token))
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(Scheme);
            return;
        }
        var held = principal.FindAll(Scopes.ClaimType).Select(c => c.Value).ToHashSet();
        if (!held.SetEquals(token.Scopes))
        {
            context.ReplacePrincipal(Principal(token));
            context.ShouldRenew = true;
        }
    }
}
