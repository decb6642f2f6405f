using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Orleans.Dashboard;
using Snapstone.Server.Http;

namespace Snapstone.Server.Hosting;

/// <summary>
/// The Orleans dashboard shows every silo, grain type, reminder and grain method; only <c>admin</c> tokens see it,
/// and its trace view (the live log) is off. A script sends <c>Authorization: Bearer</c>; a person signs in at
/// <c>/dashboard/signin</c> with an admin token and gets a session cookie (HttpOnly, SameSite=Strict, Secure over
/// HTTPS, path <c>/dashboard</c>).
///
/// The cookie is <c>{expiry}.{HMAC-SHA256(SHA-256(token), expiry)}</c>: it expires on its own, every silo can check
/// it from the configured tokens alone (no shared key ring), it does not reveal the token, and it stops working when
/// the token is removed or rotated.
/// </summary>
public static class DashboardAccess
{
    public const string Scheme = "DashboardSession";
    public const string Policy = "dashboard";
    public const string Prefix = "/dashboard";
    public const string CookieName = "snapstone-dashboard";

    public static IServiceCollection AddDashboardAccess(this IServiceCollection services)
    {
        services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, DashboardSessionHandler>(Scheme, null);
        services.AddAuthorization(o => o.AddPolicy(Policy, p => p
            .AddAuthenticationSchemes(Scheme)
            .RequireAuthenticatedUser()
            .RequireAssertion(c => AuthSetup.Has(c.User, Scopes.Admin))));
        return services;
    }

    public static WebApplication MapDashboard(this WebApplication app)
    {
        app.MapGet($"{Prefix}/signin", () => SignInPage(null, StatusCodes.Status200OK)).AllowAnonymous().ExcludeFromDescription();
        app.MapPost($"{Prefix}/signin", SignInAsync).AllowAnonymous().ExcludeFromDescription();
        app.MapPost($"{Prefix}/signout", (HttpContext http) =>
        {
            http.Response.Cookies.Delete(CookieName, Cookie(http, DateTimeOffset.UnixEpoch));
            return Results.Redirect($"{Prefix}/signin", permanent: false);
        }).AllowAnonymous().ExcludeFromDescription();
        app.MapOrleansDashboard(routePrefix: Prefix).RequireAuthorization(Policy);
        return app;
    }

    private static async Task<IResult> SignInAsync(HttpContext http, IOptions<AuthOptions> auth, IOptions<ServerOptions> options, TimeProvider time)
    {
        var form = http.Request.HasFormContentType ? await http.Request.ReadFormAsync(http.RequestAborted) : null;
        var presented = form?["token"].ToString() ?? "";
        var token = Tokens.Find(auth.Value, presented);
        if (token is null)
        {
            return SignInPage("unknown token", StatusCodes.Status401Unauthorized);
        }
        if (!token.Scopes.Contains(Scopes.Admin))
        {
            return SignInPage($"token '{token.Name}' lacks the 'admin' scope the dashboard needs", StatusCodes.Status403Forbidden);
        }
        var expires = time.GetUtcNow().AddMinutes(options.Value.Dashboard.SessionMinutes);
        http.Response.Cookies.Append(CookieName, Tokens.Seal(token, expires), Cookie(http, expires));
        return Results.Redirect($"{Prefix}/", permanent: false);
    }

    private static CookieOptions Cookie(HttpContext http, DateTimeOffset expires) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = http.Request.IsHttps,
        Path = Prefix,
        Expires = expires,
        IsEssential = true,
    };

    internal static IResult SignInPage(string? error, int status) => Results.Content($$"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Snapstone dashboard: sign in</title></head>
        <body style="font-family: sans-serif; max-width: 28rem; margin: 4rem auto">
        <h1>Snapstone dashboard</h1>
        <p>Sign in with an <code>admin</code> token.</p>
        {{(error is null ? "" : $"<p role=\"alert\" style=\"color: #b00\">{WebUtility.HtmlEncode(error)}</p>")}}
        <form method="post" action="{{Prefix}}/signin">
        <label>Token <input name="token" type="password" autocomplete="off" required style="width: 100%"></label>
        <p><button type="submit">Sign in</button></p>
        </form></body></html>
        """, "text/html; charset=utf-8", Encoding.UTF8, status);

    /// <summary>Configured tokens compared as <see cref="BearerTokenHandler"/> compares them: by SHA-256, in constant time.</summary>
    internal static class Tokens
    {
        public static TokenOptions? Find(AuthOptions auth, string presented) => AuthSetup.Find(auth, presented);

        public static string Seal(TokenOptions token, DateTimeOffset expires)
        {
            var seconds = expires.ToUnixTimeSeconds();
            return $"{seconds}.{Convert.ToHexStringLower(Mac(AuthSetup.HashOf(token)!, seconds))}";
        }

        /// <summary>The admin token a session cookie was sealed with, while it has not expired.</summary>
        public static TokenOptions? Open(AuthOptions auth, string cookie, DateTimeOffset now)
        {
            var dot = cookie.IndexOf('.');
            if (dot <= 0 || !long.TryParse(cookie.AsSpan(0, dot), out var seconds) || seconds < now.ToUnixTimeSeconds())
            {
                return null;
            }
            byte[] mac;
            try
            {
                mac = Convert.FromHexString(cookie.AsSpan(dot + 1));
            }
            catch (FormatException)
            {
                return null;
            }
            return auth.Tokens.FirstOrDefault(t => AuthSetup.HashOf(t) is { } key && t.Scopes.Contains(Scopes.Admin) && CryptographicOperations.FixedTimeEquals(mac, Mac(key, seconds)));
        }

        private static byte[] Mac(byte[] key, long seconds) => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"snapstone-dashboard:{seconds}"));
    }
}

/// <summary>
/// Authenticates dashboard requests by bearer token (delegated to <see cref="BearerTokenHandler"/>) or by session
/// cookie. An anonymous request is 401: with the sign-in page for a browser, a problem for anything else.
/// </summary>
public sealed class DashboardSessionHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IOptions<AuthOptions> auth,
    TimeProvider time) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (Request.Headers.Authorization.Count > 0)
        {
            return await Context.AuthenticateAsync(BearerTokenHandler.SchemeName);
        }
        if (!Request.Cookies.TryGetValue(DashboardAccess.CookieName, out var cookie) || string.IsNullOrEmpty(cookie))
        {
            return AuthenticateResult.NoResult();
        }
        if (DashboardAccess.Tokens.Open(auth.Value, cookie, time.GetUtcNow()) is not { } token)
        {
            return AuthenticateResult.Fail("expired or unknown dashboard session");
        }
        var claims = new List<Claim> { new(ClaimTypes.Name, token.Name) };
        claims.AddRange(token.Scopes.Select(s => new Claim(Scopes.ClaimType, s)));
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity(claims, Scheme.Name)), Scheme.Name));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        if (Request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase))
        {
            await DashboardAccess.SignInPage("sign in to see the dashboard", StatusCodes.Status401Unauthorized).ExecuteAsync(Context);
            return;
        }
        Response.Headers.WWWAuthenticate = "Bearer";
        await Problems.WriteAsync(Context, StatusCodes.Status401Unauthorized,
            $"the dashboard needs an admin token: send Authorization: Bearer <token>, or sign in at {DashboardAccess.Prefix}/signin");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Problems.WriteAsync(Context, StatusCodes.Status403Forbidden,
            $"token '{Context.User.Identity?.Name}' lacks the 'admin' scope the dashboard needs");
}
