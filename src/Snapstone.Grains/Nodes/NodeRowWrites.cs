namespace Snapstone.Grains.Nodes;

/// <summary>
/// How many node rows the silo writes at once in the background (see <see cref="NodeHealthGrain"/>): a node enrolled
/// by its first report writes its row before the answer while a slot is free, and behind when one frees; a node's
/// write-behind (drift marks, a deferred assignment) always waits for a slot. A fresh fleet of 100,000 nodes, or a
/// wave whose nodes all write at once, would otherwise put that many writes in storage's queue at once, and every
/// write an answer waits on (a PoP's members and ledger, a rollout's state) would queue behind them: three silos doing
/// so starved the storage account until the control plane stopped answering.
/// </summary>
/// <remarks>
/// Process-wide, so silos sharing a process (tests) share the slots: it only paces, it never refuses. A slot is freed
/// when its holder disposes it (its write done), and in any case after <see cref="Lease"/>: a grain whose activation
/// ends before it resumes to use its slot cannot keep it. The lease is longer than a storage request's timeout, so
/// that slow storage does not let more writes start.
/// </remarks>
internal static class NodeRowWrites
{
    public const int Slots = 16;

    public static readonly TimeSpan Lease = TimeSpan.FromMinutes(2);

    private static readonly SemaphoreSlim Free = new(Slots, Slots);

    /// <summary>A slot if one is free now, else null; disposing the answer frees it.</summary>
    public static IDisposable? TryTake()
    {
        if (!Free.Wait(0))
        {
            return null;
        }
        var slot = new Slot();
        Task.Delay(Lease, CancellationToken.None).ContinueWith(_ => slot.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return slot;
    }

    /// <summary>Waits for a free slot (cancelled: no slot taken); disposing the answer frees it.</summary>
    public static Task<IDisposable> Take(CancellationToken cancellationToken) =>
        Free.WaitAsync(cancellationToken).ContinueWith<IDisposable>(
            waited =>
            {
                waited.GetAwaiter().GetResult();
                var slot = new Slot();
                Task.Delay(Lease, CancellationToken.None).ContinueWith(_ => slot.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                return slot;
            },
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private sealed class Slot : IDisposable
    {
        private int _freed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _freed, 1) == 0)
            {
                Free.Release();
            }
        }
    }
}
