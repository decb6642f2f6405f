using Snapstone.Domain.Webhooks;
using Snapstone.Testing;

namespace Snapstone.Grains.Tests;

/// <summary>
/// A receiver's circuit breaker is stored (Azure Table on the test Azurite): deactivated and activated again, an open
/// circuit is still open until the same time, a half-open one still has its probe out, and a deleted receiver's is gone.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ReceiverCircuitTests(ClusterFixture fixture)
{
    /// <summary>The default of <c>Snapstone:Webhooks:BreakerFailures</c> and <c>BreakerCooldownSeconds</c>, which this cluster keeps.</summary>
    private const int Failures = 5;
    private static readonly TimeSpan Cooldown = TimeSpan.FromSeconds(30);

    private async Task<IReceiverBreakerGrain> Reactivated(IReceiverBreakerGrain breaker)
    {
        await fixture.Cluster.DeactivateAsync(breaker);
        await fixture.Cluster.WaitForDeactivationAsync(breaker);
        return breaker;
    }

    [Fact]
    public async Task An_open_circuit_stays_open_across_reactivation_and_its_probe_stays_out()
    {
        var breaker = fixture.Client.GetGrain<IReceiverBreakerGrain>(ReceiverCircuits.Key(ReceiverCircuits.Webhook, TestStorage.Unique("dead")));
        for (var i = 0; i < Failures; i++)
        {
            Assert.True((await breaker.Ask()).Go, $"attempt {i + 1} goes while the circuit is closed");
            await breaker.Report("HTTP 503");
        }
        var opened = await breaker.Get();
        Assert.Equal(CircuitState.Open, opened.State);
        Assert.Equal(fixture.Time.GetUtcNow() + Cooldown, opened.OpenUntil);

        // Deactivated (as on a restart or an idle collection): the circuit read back is the one stored, still open.
        var again = await (await Reactivated(breaker)).Get();
        Assert.Equal(opened, again);
        Assert.Equal(new CircuitPermit(false, opened.OpenUntil), await breaker.Ask());

        // The cooling period ends: one probe goes, and it is still the only one out after another reactivation.
        fixture.Time.Advance(Cooldown + TimeSpan.FromSeconds(1));
        Assert.True((await breaker.Ask()).Go, "the probe goes once the cooling period ends");
        Assert.Equal(CircuitState.HalfOpen, (await (await Reactivated(breaker)).Get()).State);
        Assert.False((await breaker.Ask()).Go, "a second probe while the first is out");

        // The probe fails: open again, stored again.
        await breaker.Report("HTTP 503");
        var reopened = await (await Reactivated(breaker)).Get();
        Assert.Equal(CircuitState.Open, reopened.State);
        Assert.Equal(Failures + 1, reopened.ConsecutiveFailures);
        Assert.Equal("HTTP 503", reopened.LastError);
    }

    [Fact]
    public async Task A_closed_circuit_keeps_its_last_error_across_reactivation_and_a_forgotten_one_starts_afresh()
    {
        var breaker = fixture.Client.GetGrain<IReceiverBreakerGrain>(ReceiverCircuits.Key(ReceiverCircuits.Notification, TestStorage.Unique("flaky")));
        await breaker.Report("no answer within 10 s");
        await breaker.Report(null);
        var closed = await (await Reactivated(breaker)).Get();
        Assert.Equal(CircuitState.Closed, closed.State);
        Assert.Equal(0, closed.ConsecutiveFailures);
        Assert.Equal("no answer within 10 s", closed.LastError);

        await breaker.Report("HTTP 500");
        await breaker.Forget();
        Assert.Equal(Circuit.Closed, await (await Reactivated(breaker)).Get());
    }
}
