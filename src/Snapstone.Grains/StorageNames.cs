namespace Snapstone.Grains;

public static class StorageNames
{
    /// <summary>The grain storage provider every Snapstone grain persists to.</summary>
    public const string Grains = "snapstone";
}
