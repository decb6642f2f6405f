namespace Snapstone;

/// <summary>
/// Names the PoP a call is for in its request context, so that the node grain it activates is placed on its PoP's silo
/// (the cluster's <c>WithPopPlacement</c>): a wave's fan-out from a PoP to its nodes then stays on one silo. Placement
/// only: no grain reads it for anything else, and a call without it is placed on the calling silo.
/// </summary>
public static class PopContext
{
    public const string Key = "snapstone.pop";

    /// <summary>Makes <paramref name="call"/> naming <paramref name="pop"/>. Async on purpose: the entry is this call's alone and not left behind.</summary>
    public static async Task<T> Call<T>(string pop, Func<Task<T>> call)
    {
        RequestContext.Set(Key, pop);
        return await call();
    }
}
