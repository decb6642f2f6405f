namespace Snapstone;

/// <summary>
/// A webhook's or notification's circuit breaker, read-only: closed, open (with the last error and until when) or
/// half-open. Keyed by <see cref="ReceiverCircuits.Key"/>.
/// </summary>
[Alias("snapstone.IReceiverCircuitGrain")]
public interface IReceiverCircuitGrain : IGrainWithStringKey
{
    [Alias("Get"), Orleans.Concurrency.AlwaysInterleave]
    Task<Snapstone.Domain.Webhooks.Circuit> Get();
}

public static class ReceiverCircuits
{
    public const string Webhook = "webhook";
    public const string Notification = "notification";

    /// <summary><c>webhook/{name}</c> or <c>notification/{name}</c>.</summary>
    public static string Key(string registry, string name) => $"{registry}/{name}";
}
