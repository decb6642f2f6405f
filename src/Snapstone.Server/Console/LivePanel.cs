using Microsoft.AspNetCore.Components;
using Snapstone.Client;

namespace Snapstone.Server.OperatorConsole;

/// <summary>
/// A part of a page that reads the cluster once on render and, once its circuit is up, again every
/// <see cref="Every"/>: what the rollout pages do, for the drift, fleet, risk, audit and freeze panels. A read that
/// fails shows why and is tried again at the next refresh; the panel stops when the page is closed.
/// </summary>
public abstract class LivePanel : ComponentBase, IDisposable
{
    private readonly CancellationTokenSource _stop = new();

    [Inject] protected SnapstoneClient Client { get; set; } = default!;
    [Inject] private ILogger<LivePanel> Log { get; set; } = default!;

    /// <summary>How often the panel reads the cluster again.</summary>
    protected abstract TimeSpan Every { get; }

    /// <summary>What the panel shows, for the log line and the error text.</summary>
    protected abstract string What { get; }

    /// <summary>Why the last read failed; null after a read that worked.</summary>
    protected string? Error { get; private set; }

    /// <summary><c>live</c> once the circuit is up (the tests wait for it), <c>static</c> in the first render.</summary>
    protected string LiveState => RendererInfo.IsInteractive ? "live" : "static";

    /// <summary>One read of what the panel shows.</summary>
    protected abstract Task LoadAsync();

    protected override Task OnInitializedAsync() => ReadAsync();

    protected override void OnAfterRender(bool firstRender)
    {
        if (firstRender && RendererInfo.IsInteractive)
        {
            _ = RefreshAsync();
        }
    }

    /// <summary>Reads now (a button's click) and redraws.</summary>
    protected async Task ReloadAsync()
    {
        await ReadAsync();
        StateHasChanged();
    }

    private async Task ReadAsync()
    {
        try
        {
            await LoadAsync();
            Error = null;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.LogWarning(e, "The console could not read {What}", What);
            Error = e is SnapstoneException ? e.Message : $"could not read {What} ({e.Message}); retrying";
        }
    }

    private async Task RefreshAsync()
    {
        using var timer = new PeriodicTimer(Every);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                await InvokeAsync(async () =>
                {
                    await ReadAsync();
                    StateHasChanged();
                });
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        GC.SuppressFinalize(this);
    }
}
