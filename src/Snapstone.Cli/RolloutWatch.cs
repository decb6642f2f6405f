using System.Text.Json.Nodes;
using System.Threading.Channels;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Snapstone.Cli;

/// <summary>
/// Follows one rollout until it completes, rolls back, is aborted or pauses, or until a deadline. The rollout as
/// <c>GET /v1/rollouts/{id}</c> returns it is the only source of truth: the event stream
/// (<c>/v1/rollouts/{id}/events</c>) only wakes the watcher the moment something happens, and a poll every
/// <see cref="PollInterval"/> carries the counts that change without a timeline entry. So a dropped stream costs
/// nothing but latency: it is reopened with backoff, and a server that is briefly unreachable is retried until the
/// deadline.
/// </summary>
public sealed class RolloutWatch(Session session)
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The rollout as last seen and the exit code for it (<see cref="ExitCodes.OfRolloutState"/>, or
    /// <see cref="ExitCodes.TimedOut"/> when <paramref name="timeout"/> passed first; zero waits for ever).
    /// </summary>
    public async Task<(JsonNode Rollout, int Code)> FollowAsync(string id, TimeSpan timeout, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (timeout > TimeSpan.Zero)
        {
            deadline.CancelAfter(timeout);
        }
        IProgressView view = session.Terminal.Live && !session.AsJson ? new LiveProgress(session.Out) : new PlainProgress(session);
        var wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
        using var stopStream = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
        var path = $"/v1/rollouts/{Arguments.Segment(id)}";
        JsonNode? last = null;
        return await view.RunAsync(async () =>
        {
            var stream = ListenAsync($"{path}/events", wake.Writer, view, stopStream.Token);
            try
            {
                var unreachable = false;
                while (true)
                {
                    JsonNode? snapshot = null;
                    try
                    {
                        snapshot = await session.Gateway.GetAsync(path, deadline.Token);
                        if (unreachable)
                        {
                            view.Note("Snapstone answers again");
                            unreachable = false;
                        }
                    }
                    catch (Exception e) when (!deadline.IsCancellationRequested && e is HttpRequestException or GatewayFailure { Transient: true })
                    {
                        if (!unreachable)
                        {
                            view.Note($"Snapstone did not answer ({e.Message}); retrying{(timeout > TimeSpan.Zero ? $" until the {Durations.Describe(timeout)} timeout" : "")}");
                            unreachable = true;
                        }
                    }
                    if (snapshot is not null)
                    {
                        last = snapshot;
                        view.Show(snapshot);
                        if (ExitCodes.OfRolloutState(snapshot.Str("state")) is { } code)
                        {
                            return (snapshot, code);
                        }
                    }
                    using var nap = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
                    nap.CancelAfter(PollInterval);
                    try
                    {
                        await wake.Reader.WaitToReadAsync(nap.Token);
                        wake.Reader.TryRead(out _);
                    }
                    catch (OperationCanceledException) when (!deadline.IsCancellationRequested)
                    {
                    }
                }
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                return (last ?? throw new GatewayFailure(0, $"rollout {id} was not read once within the {Durations.Describe(timeout)} timeout"), ExitCodes.TimedOut);
            }
            finally
            {
                await stopStream.CancelAsync();
                await stream;
            }
        });
    }

    /// <summary>Keeps the event stream open until stopped, reopening it after a drop with backoff (0.5 s doubling to 5 s).</summary>
    private async Task ListenAsync(string path, ChannelWriter<bool> wake, IProgressView view, CancellationToken ct)
    {
        var backoff = TimeSpan.FromMilliseconds(500);
        var dropped = false;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await foreach (var _ in session.Gateway.EventsAsync(path, ct))
                {
                    if (dropped)
                    {
                        view.Note("event stream reconnected");
                        dropped = false;
                    }
                    backoff = TimeSpan.FromMilliseconds(500);
                    wake.TryWrite(true);
                }
                // The server ends the stream when the rollout ends; the next read sees that. Anything else is a drop.
                wake.TryWrite(true);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Refusal)
            {
                // Not found or not allowed: the poll reports it with the server's words.
                return;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or GatewayFailure or System.Text.Json.JsonException)
            {
                if (!dropped)
                {
                    view.Note($"event stream dropped ({e.Message}); reconnecting");
                    dropped = true;
                }
            }
            try
            {
                await Task.Delay(backoff, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
        }
    }

    /// <summary>Where progress goes: plain lines (redirected, CI, <c>--output json</c>) or a live display.</summary>
    private interface IProgressView
    {
        Task<T> RunAsync<T>(Func<Task<T>> body);
        void Show(JsonNode rollout);
        void Note(string note);
    }

    /// <summary>
    /// One line per change, nothing redrawn: the header once, each new timeline entry, a wave's counts when they
    /// change, each verdict with its reasons, the rollback's confirmations.
    /// </summary>
    private sealed class PlainProgress(Session session) : IProgressView
    {
        private const int FirstTimeline = 20;
        private readonly Lock _lock = new();
        private readonly HashSet<string> _seen = [];
        private readonly Dictionary<int, string> _waves = [];
        private readonly Dictionary<int, string> _verdicts = [];
        private string? _rollback;
        private bool _started;

        public Task<T> RunAsync<T>(Func<Task<T>> body) => body();

        public void Show(JsonNode r)
        {
            lock (_lock)
            {
                if (!_started)
                {
                    session.Progress(RolloutView.Header(r));
                }
                var entries = r.Items("timeline").ToList();
                var fresh = entries.Where(e => _seen.Add(Key(e))).ToList();
                if (!_started && fresh.Count > FirstTimeline)
                {
                    session.Progress($"  … {fresh.Count - FirstTimeline} earlier timeline entries ('snapstone rollout get' lists them)");
                    fresh = fresh[^FirstTimeline..];
                }
                _started = true;
                foreach (var e in fresh)
                {
                    session.Progress($"  {RolloutView.Entry(e)}");
                }
                var waves = r.Items("waves").ToList();
                for (var i = 0; i < waves.Count; i++)
                {
                    var w = waves[i];
                    if (w.Str("state") is "pending" or null)
                    {
                        continue;
                    }
                    var counts = $"wave {i + 1}/{waves.Count} {w.Str("name")}: {w.Str("state")}, {w.Int("targeted")} targeted, {w.Int("applied")} applied, " +
                        $"{w.Int("healthy")} healthy, {w.Int("unhealthy")} unhealthy, {w.Int("rejected")} rejected";
                    if (!_waves.TryGetValue(i, out var before) || before != counts)
                    {
                        _waves[i] = counts;
                        session.Progress($"  {counts}");
                    }
                    if (RolloutView.Verdict(w) is { } verdict && (!_verdicts.TryGetValue(i, out var said) || said != verdict))
                    {
                        _verdicts[i] = verdict;
                        session.Progress($"  verdict {verdict}");
                    }
                }
                if (RolloutView.Rollback(r) is { } rollback && rollback != _rollback)
                {
                    _rollback = rollback;
                    session.Progress($"  {rollback}");
                }
            }
        }

        public void Note(string note)
        {
            lock (_lock)
            {
                session.Progress($"  ({note})");
            }
        }

        private static string Key(JsonNode e) => $"{e.Str("at")}|{e.Str("type")}|{e.Str("message")}";
    }

    /// <summary>A Spectre live display redrawn in place: header, waves with their counts and verdicts, the newest timeline entries.</summary>
    private sealed class LiveProgress(IAnsiConsole console) : IProgressView
    {
        private readonly Lock _lock = new();
        private LiveDisplayContext? _context;
        private JsonNode? _rollout;
        private string? _shown;
        private string? _note;

        public Task<T> RunAsync<T>(Func<Task<T>> body) =>
            console.Live(Render()).AutoClear(false).Overflow(VerticalOverflow.Ellipsis).StartAsync(async context =>
            {
                lock (_lock)
                {
                    _context = context;
                }
                return await body();
            });

        public void Show(JsonNode rollout)
        {
            lock (_lock)
            {
                // A poll that changed nothing redraws nothing.
                var text = rollout.ToJsonString();
                if (text == _shown)
                {
                    return;
                }
                (_rollout, _shown) = (rollout, text);
                Redraw();
            }
        }

        public void Note(string note)
        {
            lock (_lock)
            {
                _note = note;
                Redraw();
            }
        }

        private void Redraw()
        {
            if (_context is { } context)
            {
                context.UpdateTarget(Render());
                context.Refresh();
            }
        }

        private IRenderable Render()
        {
            if (_rollout is not { } r)
            {
                return new Text("reading the rollout…");
            }
            var parts = new List<IRenderable> { new Markup($"[bold]{Markup.Escape(RolloutView.Header(r))}[/]"), RolloutView.Waves(r) };
            parts.AddRange(r.Items("waves").Select(RolloutView.Verdict).OfType<string>().Select(v => new Text($"verdict {v}")));
            if (RolloutView.Rollback(r) is { } rollback)
            {
                parts.Add(new Text(rollback));
            }
            parts.AddRange(r.Items("timeline").TakeLast(8).Select(e => new Text($"  {RolloutView.Entry(e)}", new Style(Color.Grey))));
            if (_note is not null)
            {
                parts.Add(new Text($"({_note})", new Style(Color.Yellow)));
            }
            return new Rows(parts);
        }
    }
}
