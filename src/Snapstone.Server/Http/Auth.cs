using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Snapstone.Domain.Nodes;

namespace Snapstone.Server.Http;

/// <summary>One configured bearer token (<c>Snapstone:Auth:Tokens</c>). In production give <see cref="TokenSha256"/>, not <see cref="Token"/>.</summary>
public sealed class TokenOptions
{
    public string Name { get; set; } = "";
    public string? Token { get; set; }
    /// <summary>Lower-case hex SHA-256 of the token.</summary>
    public string? TokenSha256 { get; set; }
    public List<string> Scopes { get; set; } = [];
    /// <summary>Agent tokens: the PoPs whose nodes this token may report for; empty: any.</summary>
    public List<string> Pops { get; set; } = [];
    /// <summary>Agent tokens: the node ids this token may report for, as patterns where <c>*</c> is any run of characters; empty: any.</summary>
    public List<string> Nodes { get; set; } = [];
    /// <summary>Agent tokens: how many nodes this token may have enrolled at once; empty: <c>Snapstone:Nodes:MaxPerToken</c>.</summary>
    public int? MaxNodes { get; set; }
}

public sealed class AuthOptions
{
    public List<TokenOptions> Tokens { get; set; } = [];
}

public static class Scopes
{
    public const string Read = "read";
    public const string Deploy = "deploy";
    public const string Approve = "approve";
    public const string Agent = "agent";
    public const string BreakGlass = "breakglass";
    /// <summary>A monitoring system's token: posts alerts to <c>/v1/alarms/…</c>.</summary>
    public const string Alarm = "alarm";
    public const string Admin = "admin";

    public static readonly string[] All = [Read, Deploy, Approve, Agent, BreakGlass, Alarm, Admin];

    /// <summary>Agents read their own desired state and package content; readers may too.</summary>
    public const string ReadOrAgent = "read-or-agent";

    public const string ClaimType = "scope";
}

/// <summary>
/// Bearer tokens from configuration. A missing or unknown token is 401; a known token without the
/// endpoint's scope is 403. Tokens are compared by SHA-256 in constant time; the token's name becomes the actor.
/// </summary>
public sealed class BearerTokenHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IOptions<AuthOptions> auth) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "Bearer";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        if (AuthSetup.Find(auth.Value, header["Bearer ".Length..]) is not { } token)
        {
            return Task.FromResult(AuthenticateResult.Fail("unknown token"));
        }
        var claims = new List<Claim> { new(ClaimTypes.Name, token.Name) };
        claims.AddRange(token.Scopes.Select(s => new Claim(Scopes.ClaimType, s)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        return Problems.WriteAsync(Context, StatusCodes.Status401Unauthorized,
            "missing or unknown bearer token (send Authorization: Bearer <token>)");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        var endpoint = Context.GetEndpoint();
        var needed = endpoint?.Metadata.GetOrderedMetadata<Microsoft.AspNetCore.Authorization.IAuthorizeData>()
            .Select(a => a.Policy).FirstOrDefault(p => p is not null) ?? "another";
        return Problems.WriteAsync(Context, StatusCodes.Status403Forbidden,
            $"token '{Context.User.Identity?.Name}' lacks the '{needed}' scope this endpoint needs");
    }
}

/// <summary>
/// The binding of each configured token as the node grains see it (<see cref="AgentToken"/>), made once: every
/// report carries its token's, so the one the gateway hands over must cost nothing per report.
/// </summary>
public sealed class AgentTokens(IOptions<AuthOptions> auth, IOptions<Snapstone.Grains.Nodes.NodeOptions> nodes)
{
    private readonly Dictionary<string, AgentToken> _byName = auth.Value.Tokens.Where(t => t.Name.Length > 0).DistinctBy(t => t.Name).ToDictionary(
        t => t.Name,
        t => new AgentToken(t.Name, t.Pops.Count > 0 ? [.. t.Pops] : null, t.Nodes.Count > 0 ? [.. t.Nodes] : null, t.MaxNodes ?? nodes.Value.MaxPerToken));

    /// <summary>The binding of the token that made the request (none for a token configured without a name).</summary>
    public AgentToken? Of(HttpContext http) => http.User.Identity?.Name is { } name ? _byName.GetValueOrDefault(name) : null;
}

public static class AuthSetup
{
    /// <summary>
    /// The configured token whose secret is <paramref name="presented"/>, compared by SHA-256 in constant time; the
    /// bearer handler, the dashboard's and the console's sign-ins all find tokens this way.
    /// </summary>
    public static TokenOptions? Find(AuthOptions auth, string presented)
    {
        if (presented.Length == 0)
        {
            return null;
        }
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(presented.Trim()));
        return auth.Tokens.FirstOrDefault(t => HashOf(t) is { } expected && CryptographicOperations.FixedTimeEquals(hash, expected));
    }

    /// <summary>A token's SHA-256: configured as such (<c>TokenSha256</c>) or computed from the token; null for neither.</summary>
    public static byte[]? HashOf(TokenOptions token) =>
        token.TokenSha256 is { Length: 64 } hex ? Convert.FromHexString(hex)
        : token.Token is { Length: > 0 } plain ? SHA256.HashData(Encoding.UTF8.GetBytes(plain))
        : null;

    public static IServiceCollection AddSnapstoneAuth(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<AuthOptions>(configuration.GetSection("Snapstone:Auth"));
        services.AddOptions<Snapstone.Grains.Nodes.NodeOptions>().BindConfiguration("Snapstone:Nodes");
        services.AddSingleton<AgentTokens>();
        services.AddAuthentication(BearerTokenHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, BearerTokenHandler>(BearerTokenHandler.SchemeName, null);
        services.AddAuthorization(o =>
        {
            foreach (var scope in Scopes.All)
            {
                o.AddPolicy(scope, p => p.RequireAuthenticatedUser().RequireAssertion(c => Has(c.User, scope)));
            }
            o.AddPolicy(Scopes.ReadOrAgent, p => p.RequireAuthenticatedUser().RequireAssertion(c => Has(c.User, Scopes.Read) || Has(c.User, Scopes.Agent)));
        });
        return services;
    }

    /// <summary>Admin may do everything.</summary>
    public static bool Has(ClaimsPrincipal user, string scope) =>
        user.HasClaim(Scopes.ClaimType, scope) || user.HasClaim(Scopes.ClaimType, Scopes.Admin);

    /// <summary>The name of the token that made the request; recorded as the actor of every write.</summary>
    public static string Actor(this HttpContext context) => context.User.Identity?.Name ?? "anonymous";

    /// <summary>Checks the configured tokens: names unique and valid, scopes known, a secret on each.</summary>
    public static IReadOnlyList<string> Check(AuthOptions options)
    {
        var errors = new List<string>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Tokens.Count; i++)
        {
            var token = options.Tokens[i];
            var at = $"Snapstone:Auth:Tokens:{i}";
            if (string.IsNullOrWhiteSpace(token.Name) || !names.Add(token.Name))
                errors.Add($"{at}:Name must be set and unique");
            if (string.IsNullOrEmpty(token.Token) && token.TokenSha256 is not { Length: 64 })
                errors.Add($"{at} needs Token or a 64-character TokenSha256");
            if (token.TokenSha256 is { Length: 64 } hex && !Domain.Nodes.ReportRules.IsSha256(hex))
                errors.Add($"{at}:TokenSha256 must be lower-case hex");
            if (token.Token is { Length: > 0 and < 16 })
                errors.Add($"{at}:Token must be at least 16 characters");
            foreach (var scope in token.Scopes.Where(s => !Scopes.All.Contains(s)))
                errors.Add($"{at}:Scopes has unknown scope '{scope}' (known: {string.Join(", ", Scopes.All)})");
            foreach (var pop in token.Pops.Where(p => !Domain.Names.IsValid(p)))
                errors.Add($"{at}:Pops has '{pop}', which is not a PoP name ({Domain.Names.Pattern})");
            foreach (var pattern in token.Nodes.Where(p => !AgentToken.IsPattern(p)))
                errors.Add($"{at}:Nodes has '{pattern}', which is not a node-id pattern (lower-case letters, digits, '.', '_', '-' and '*', at most 100 characters)");
            if (token.MaxNodes is < 1)
                errors.Add($"{at}:MaxNodes must be 1 or more (got {token.MaxNodes})");
        }
        return errors;
    }
}
