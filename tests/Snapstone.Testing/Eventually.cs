using System.Diagnostics;

namespace Snapstone.Testing;

/// <summary>Explicit waits on conditions. A timeout names what was awaited and the last value seen.</summary>
public static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public static async Task<T> Until<T>(Func<Task<T>> probe, Func<T, bool> done, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultTimeout;
        var clock = Stopwatch.StartNew();
        T last;
        while (true)
        {
            last = await probe();
            if (done(last))
            {
                return last;
            }
            if (clock.Elapsed > limit)
            {
                throw new TimeoutException($"timed out after {limit.TotalSeconds:0.#} s waiting for {what}; last seen: {Describe(last)}");
            }
            await Task.Delay(25);
        }
    }

    public static Task Until(Func<Task<bool>> condition, string what, TimeSpan? timeout = null) =>
        Until(condition, ok => ok, what, timeout);

    private static string Describe<T>(T value) => value switch
    {
        null => "null",
        string s => s.Length > 2000 ? s[..2000] : s,
        _ => System.Text.Json.JsonSerializer.Serialize(value, SnapstoneJson.Options) is { } json && json.Length > 2000 ? json[..2000] : System.Text.Json.JsonSerializer.Serialize(value, SnapstoneJson.Options),
    };
}
