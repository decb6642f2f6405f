using System.Text.Json;
using System.Text.Json.Nodes;

namespace Snapstone.Cli;

/// <summary>
/// Which gateway to talk to and with which token. Each value is taken from the first place that has it:
/// <list type="number">
/// <item>the flags <c>--server</c> and <c>--token</c>;</item>
/// <item>the profile named by <c>--profile</c>;</item>
/// <item>the environment: <c>SNAPSTONE_URL</c> and <c>SNAPSTONE_TOKEN</c>;</item>
/// <item>the profile named by <c>SNAPSTONE_PROFILE</c>, else the file's <c>defaultProfile</c>;</item>
/// <item>for the server only, <c>http://127.0.0.1:5080</c> (the server's embedded default).</item>
/// </list>
/// The profile file is <c>$SNAPSTONE_CONFIG</c>, else <c>$XDG_CONFIG_HOME/snapstone/config.json</c>, else
/// <c>~/.config/snapstone/config.json</c>:
/// <code>
/// { "defaultProfile": "staging",
///   "profiles": { "staging": { "url": "https://snapstone.staging.example", "tokenFile": "staging.token" },
///                 "prod":    { "url": "https://snapstone.example", "token": "…" } } }
/// </code>
/// A relative <c>tokenFile</c> is read from the profile file's folder.
/// </summary>
public sealed record Connection(Uri Server, string Token, string? Profile)
{
    public const string DefaultServer = "http://127.0.0.1:5080";

    public static Connection Resolve(string? server, string? token, string? profile, Func<string, string?> environment)
    {
        var file = ProfileFile.Path(environment);
        var named = profile is null ? null : ProfileFile.Load(file, required: true).Find(profile, file, "--profile");
        // The default profile is read only when flags and environment leave something open, so a broken
        // profile file never stands in the way of --server and --token.
        Profile? fallback = null;
        var looked = named is not null;
        Profile? Fallback()
        {
            if (!looked)
            {
                looked = true;
                var envProfile = NonEmpty(environment("SNAPSTONE_PROFILE"));
                var loaded = ProfileFile.Load(file, required: envProfile is not null);
                fallback = envProfile is not null ? loaded.Find(envProfile, file, "SNAPSTONE_PROFILE")
                    : loaded.DefaultProfile is { } d ? loaded.Find(d, file, "defaultProfile") : null;
            }
            return fallback;
        }

        var url = NonEmpty(server) ?? named?.Url ?? NonEmpty(environment("SNAPSTONE_URL")) ?? Fallback()?.Url ?? DefaultServer;
        var secret = NonEmpty(token) ?? named?.ReadToken() ?? NonEmpty(environment("SNAPSTONE_TOKEN")) ?? Fallback()?.ReadToken()
            ?? throw new UsageError($"a token is required: --token, SNAPSTONE_TOKEN, or a profile in {file} (see 'snapstone --help')");
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new UsageError($"the server must be an http:// or https:// URL (got '{url}')");
        }
        return new Connection(uri, secret, named?.Name ?? fallback?.Name);
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}

/// <summary>One named profile of the profile file.</summary>
public sealed record Profile(string Name, string? Url, string? Token, string? TokenFile, string Folder)
{
    public string? ReadToken()
    {
        if (Token is { Length: > 0 })
        {
            return Token;
        }
        if (TokenFile is not { Length: > 0 } file)
        {
            return null;
        }
        var path = file.StartsWith("~/", StringComparison.Ordinal)
            ? System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), file[2..])
            : System.IO.Path.Combine(Folder, file);
        try
        {
            return File.ReadAllText(path).Trim() is { Length: > 0 } read ? read : throw new UsageError($"profile '{Name}': token file {path} is empty");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageError($"profile '{Name}': cannot read token file {path}: {e.Message}");
        }
    }
}

/// <summary>The profile file's contents: its default profile's name and every profile.</summary>
public sealed record ProfileFile(string? DefaultProfile, IReadOnlyDictionary<string, Profile> Profiles)
{
    private static readonly ProfileFile Empty = new(null, new Dictionary<string, Profile>());

    public static string Path(Func<string, string?> environment)
    {
        if (environment("SNAPSTONE_CONFIG") is { Length: > 0 } explicitPath)
        {
            return explicitPath;
        }
        var config = environment("XDG_CONFIG_HOME") is { Length: > 0 } xdg
            ? xdg
            : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config");
        return System.IO.Path.Combine(config, "snapstone", "config.json");
    }

    public static ProfileFile Load(string path, bool required)
    {
        if (!File.Exists(path))
        {
            return required ? throw new UsageError($"no profile file at {path}") : Empty;
        }
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new UsageError($"cannot read profile file {path}: {e.Message}");
        }
        if (root is not JsonObject file || file["profiles"] is not (JsonObject or null))
        {
            throw new UsageError($"profile file {path} must be an object with \"profiles\": {{ \"name\": {{ \"url\", \"token\" or \"tokenFile\" }} }}");
        }
        var folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? ".";
        var profiles = new Dictionary<string, Profile>(StringComparer.Ordinal);
        foreach (var (name, value) in file["profiles"]?.AsObject() ?? [])
        {
            if (value is not JsonObject p)
            {
                throw new UsageError($"profile file {path}: profile '{name}' must be an object");
            }
            profiles[name] = new Profile(name, Text(p, "url", path, name), Text(p, "token", path, name), Text(p, "tokenFile", path, name), folder);
        }
        return new ProfileFile(file["defaultProfile"] is JsonValue d && d.TryGetValue<string>(out var dn) ? dn : null, profiles);
    }

    public Profile Find(string name, string path, string namedBy) =>
        Profiles.TryGetValue(name, out var profile)
            ? profile
            : throw new UsageError($"{namedBy} names profile '{name}', which {path} does not have" +
                (Profiles.Count == 0 ? "" : $" (it has: {string.Join(", ", Profiles.Keys.Order(StringComparer.Ordinal))})"));

    private static string? Text(JsonObject profile, string field, string path, string name) => profile[field] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => throw new UsageError($"profile file {path}: profiles.{name}.{field} must be a string"),
    };
}
