using System.Security.Cryptography;

namespace Snapstone.Server.Hosting;

/// <summary>
/// The data directory holds the embedded Azurite's data and the generated local admin token: only the user the
/// server runs as may read it. The directory is 0700 and the token file is created 0600 before any byte of the
/// token is written, so no other user can read the token even for an instant.
/// </summary>
public static class LocalFiles
{
    public const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    public const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Creates <paramref name="path"/> with mode 0700, or narrows an existing one to it.</summary>
    public static string PrivateDirectory(string path, ILogger logger)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return path;
        }
        if (!Directory.Exists(path))
        {
            Directory.CreateDirectory(path, OwnerOnlyDirectory);
        }
        var mode = File.GetUnixFileMode(path);
        if (mode != OwnerOnlyDirectory)
        {
            File.SetUnixFileMode(path, OwnerOnlyDirectory);
            logger.LogWarning("Data directory {Directory} was mode {Mode}; narrowed to 0700", path, Octal(mode));
        }
        return path;
    }

    /// <summary>The token in <paramref name="path"/>, or a new one written there with mode 0600 from creation on.</summary>
    public static string AdminToken(string path, ILogger logger)
    {
        if (File.Exists(path))
        {
            if (!OperatingSystem.IsWindows() && File.GetUnixFileMode(path) is var mode && mode != OwnerOnlyFile)
            {
                File.SetUnixFileMode(path, OwnerOnlyFile);
                logger.LogWarning("Token file {File} was mode {Mode}; narrowed to 0600", path, Octal(mode));
            }
            if (File.ReadAllText(path).Trim() is { Length: >= 16 } existing)
            {
                return existing;
            }
            File.Delete(path);
        }
        var token = "snp_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            create.UnixCreateMode = OwnerOnlyFile;
        }
        using (var file = new StreamWriter(path, System.Text.Encoding.ASCII, create))
        {
            file.Write(token + "\n");
        }
        return token;
    }

    private static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode, 8);
}
