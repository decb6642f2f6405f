using System.Diagnostics;

namespace Snapstone.Testing;

/// <summary>
/// A real browser: Debian's Chromium, headless, which loads a page, runs its scripts and prints the resulting
/// DOM. <c>.ci/run</c> installs it; <c>SNAPSTONE_CHROMIUM</c> points elsewhere.
/// </summary>
public static class HeadlessBrowser
{
    public static string Executable => Environment.GetEnvironmentVariable("SNAPSTONE_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    public static async Task<string> RenderAsync(Uri page)
    {
        if (!File.Exists(Executable))
        {
            throw new FileNotFoundException($"no Chromium at {Executable}: install Debian's chromium (apt-get install chromium) or set SNAPSTONE_CHROMIUM");
        }
        var profile = Directory.CreateTempSubdirectory("snapstone-chromium-");
        try
        {
            var start = new ProcessStartInfo(Executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[]
            {
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", $"--user-data-dir={profile.FullName}", "--virtual-time-budget=8000", "--dump-dom", page.ToString(),
            })
            {
                start.ArgumentList.Add(arg);
            }
            using var browser = Process.Start(start)!;
            var dom = browser.StandardOutput.ReadToEndAsync();
            var errors = browser.StandardError.ReadToEndAsync();
            if (!browser.WaitForExit(TimeSpan.FromSeconds(60)))
            {
                browser.Kill(entireProcessTree: true);
                throw new TimeoutException($"Chromium did not finish rendering {page} within 60 s: {await errors}");
            }
            return await dom;
        }
        finally
        {
            try { profile.Delete(recursive: true); } catch (IOException) { }
        }
    }
}
