using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Snapstone.Cli;

/// <summary>
/// <c>snapstone breakglass freeze|unfreeze|rollback|deploy</c> and <c>snapstone audit verify</c>. It needs only the
/// gateway's address and a token (<c>--server</c>/<c>SNAPSTONE_URL</c>, <c>--token</c>/<c>SNAPSTONE_TOKEN</c>), and prints
/// what it did. Exit code 0 on success, 1 when Snapstone refused, 2 for a usage error.
/// </summary>
public static class CommandLine
{
    private const string Usage = """
        usage: snapstone [--server URL] [--token TOKEN] <command>
          breakglass freeze   [--unit UNIT] --reason TEXT [--ttl SECONDS]   pause matching rollouts, refuse new ones
          breakglass unfreeze [--unit UNIT]                                  lift a freeze; paused rollouts resume
          breakglass rollback --unit UNIT --reason TEXT [--wait]             every node of the unit back to its LKG now
          breakglass deploy   --unit UNIT --version N --reason TEXT          canary, then everyone; still watched
          audit verify                                                       recompute the audit chain
        SNAPSTONE_URL and SNAPSTONE_TOKEN stand in for --server and --token.
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter errors, HttpMessageHandler? handler = null)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        var words = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i].StartsWith("--", StringComparison.Ordinal))
            {
                var name = args[i][2..];
                options[name] = name == "wait" ? "true" : i + 1 < args.Length ? args[++i] : "";
            }
            else
            {
                words.Add(args[i]);
            }
        }
        var server = options.GetValueOrDefault("server") ?? Environment.GetEnvironmentVariable("SNAPSTONE_URL") ?? "http://127.0.0.1:5080";
        var token = options.GetValueOrDefault("token") ?? Environment.GetEnvironmentVariable("SNAPSTONE_TOKEN");
        if (words.Count < 2 || token is null or "")
        {
            await errors.WriteLineAsync(token is null or "" && words.Count >= 2 ? "a token is required (--token or SNAPSTONE_TOKEN)" : Usage);
            return 2;
        }
        using var http = new HttpClient(handler ?? new HttpClientHandler()) { BaseAddress = new Uri(server), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var unit = options.GetValueOrDefault("unit");
        var reason = options.GetValueOrDefault("reason");
        try
        {
            switch ($"{words[0]} {words[1]}")
            {
                case "breakglass freeze":
                    var freeze = await Send(http, HttpMethod.Post, "/v1/breakglass/freeze", new { unit, reason, ttlSeconds = options.TryGetValue("ttl", out var ttl) ? int.Parse(ttl) : (int?)null });
                    await output.WriteLineAsync($"frozen: {(string?)freeze["unit"] ?? "all units"} by {(string?)freeze["by"]}{((string?)freeze["until"] is { } until ? $" until {until}" : "")}; matching rollouts paused, new ones refused");
                    return 0;
                case "breakglass unfreeze":
                    await Send(http, HttpMethod.Delete, unit is null ? "/v1/breakglass/freeze" : $"/v1/breakglass/freeze?unit={Uri.EscapeDataString(unit)}", null);
                    await output.WriteLineAsync($"freeze lifted: {unit ?? "all units"}; rollouts it paused resume");
                    return 0;
                case "breakglass rollback":
                    var action = await Send(http, HttpMethod.Post, "/v1/breakglass/rollback", new { unit, reason });
                    await output.WriteLineAsync($"rollback {(string?)action["id"]}: {(int?)action["targeted"]} node(s) of {unit} sent back to v{(long?)action["targetVersion"]}; quarantined [{string.Join(", ", action["quarantined"]!.AsArray())}]; incident {(string?)action["incident"]}");
                    if (options.ContainsKey("wait"))
                    {
                        var deadline = DateTime.UtcNow.AddMinutes(5);
                        while (action["completedAt"] is null && DateTime.UtcNow < deadline)
                        {
                            await Task.Delay(500);
                            action = await Send(http, HttpMethod.Get, $"/v1/breakglass/actions/{(string?)action["id"]}", null);
                        }
                        await output.WriteLineAsync($"confirmed {(int?)action["confirmed"]} of {(int?)action["targeted"]}{(action["completedAt"] is null ? " (still waiting)" : " — complete")}");
                    }
                    return 0;
                case "breakglass deploy":
                    var rollout = await Send(http, HttpMethod.Post, "/v1/breakglass/deploy", new { unit, version = long.Parse(options.GetValueOrDefault("version") ?? "0"), reason });
                    await output.WriteLineAsync($"emergency rollout {(string?)rollout["id"]} of {unit} v{(long?)rollout["version"]} started on plan {(string?)rollout["plan"]}: canary, then everyone");
                    return 0;
                case "audit verify":
                    var verdict = await Send(http, HttpMethod.Get, "/v1/audit/verify", null);
                    if ((bool?)verdict["valid"] == true)
                    {
                        await output.WriteLineAsync($"audit chain verified: {(long?)verdict["entries"]} entries, every link holds");
                        return 0;
                    }
                    await output.WriteLineAsync($"audit chain BROKEN at entry {(long?)verdict["firstBroken"]!["seq"]}: {(string?)verdict["firstBroken"]!["reason"]}");
                    return 1;
                default:
                    await errors.WriteLineAsync(Usage);
                    return 2;
            }
        }
        catch (Refused e)
        {
            await errors.WriteLineAsync($"refused ({e.Status}): {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or FormatException)
        {
            await errors.WriteLineAsync($"error: {e.Message}");
            return e is FormatException ? 2 : 1;
        }
    }

    private static async Task<JsonNode> Send(HttpClient http, HttpMethod method, string path, object? body)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(JsonSerializer.Serialize(body, new JsonSerializerOptions(JsonSerializerDefaults.Web)), Encoding.UTF8, "application/json");
        }
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var json = text.Length > 0 && text.TrimStart().StartsWith('{') ? JsonNode.Parse(text) : null;
        if (!response.IsSuccessStatusCode)
        {
            throw new Refused((int)response.StatusCode, (string?)json?["detail"] ?? text);
        }
        return json ?? new JsonObject();
    }

    private sealed class Refused(int status, string message) : Exception(message)
    {
        public int Status { get; } = status;
    }
}
