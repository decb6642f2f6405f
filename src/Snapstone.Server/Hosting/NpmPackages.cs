using System.Diagnostics;

namespace Snapstone.Server.Hosting;

/// <summary>Pinned npm packages installed once into a folder of their own (Azurite for embedded storage; tools the tests use).</summary>
public static class NpmPackages
{
    /// <summary>
    /// Installs <c>package@version</c> with npm into <c>{root}/{name}-{version}</c> unless it is there, and returns the
    /// path of <paramref name="entry"/> inside the installed package.
    /// </summary>
    public static async Task<string> EnsureInstalledAsync(string root, string package, string version, string entry, ILogger logger, CancellationToken ct = default)
    {
        var prefix = Path.Combine(root, $"{package.TrimStart('@').Replace('/', '-')}-{version}");
        var path = Path.Combine(prefix, "node_modules", package, entry);
        if (File.Exists(path))
        {
            return path;
        }
        Directory.CreateDirectory(prefix);
        // Parallel test processes may race to install: one installs, the others wait on the lock.
        await using var gate = await InstallLockAsync(Path.Combine(prefix, ".install.lock"), ct);
        if (File.Exists(path))
        {
            return path;
        }
        logger.LogInformation("Installing {Package}@{Version} from npm into {Prefix} (first use only)", package, version, prefix);
        var npm = new ProcessStartInfo("npm") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in new[] { "install", "--prefix", prefix, "--no-audit", "--no-fund", "--loglevel=error", "--no-save", $"{package}@{version}" })
        {
            npm.ArgumentList.Add(arg);
        }
        using var install = Process.Start(npm) ?? throw new InvalidOperationException("npm is not on PATH; install Node.js 20 and npm");
        var errors = install.StandardError.ReadToEndAsync(ct);
        _ = install.StandardOutput.ReadToEndAsync(ct);
        await install.WaitForExitAsync(ct);
        if (install.ExitCode != 0 || !File.Exists(path))
        {
            throw new InvalidOperationException($"npm install {package}@{version} failed with code {install.ExitCode}: {await errors}");
        }
        return path;
    }

    /// <summary>An exclusive lock on <paramref name="path"/> across processes (parallel test runs installing one tool); dispose releases it.</summary>
    public static async Task<FileStream> InstallLockAsync(string path, CancellationToken ct = default)
    {
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException)
            {
                await Task.Delay(200, ct);
            }
        }
    }
}
