namespace Snapstone.Grains.Nodes;

/// <summary>
/// How many node rows the silo writes at once for nodes enrolled by their first report (see
/// <see cref="NodeHealthGrain"/>): with a slot free the row is written before the answer, with none it is written
/// behind when one frees. A fresh fleet of 100,000 nodes would otherwise put 100,000 writes in storage's
/// queue at once, and every PoP's member write, which the nodes' answers wait on, would queue behind them; with a few
/// slots the PoPs' writes wait behind at most that many.
/// </summary>
/// <remarks>
/// Process-wide, so silos sharing a process (tests) share the slots: it only paces, it never refuses. A slot is freed
/// when its holder disposes it, and in any case after <see cref="Lease"/>: a grain whose activation ends before it
/// resumes to use its slot cannot keep it.
/// </remarks>
internal static class EnrolmentWrites
{
    public const int Slots = 16;

    public static readonly TimeSpan Lease = TimeSpan.FromSeconds(10);

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
