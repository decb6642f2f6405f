namespace Snapstone.Grains.Drift;

/// <summary>
/// Runs a grain's scan every interval, also when that is shorter than a reminder may fire. Orleans reminders
/// fire at most once per <c>MinimumReminderPeriod</c> (a minute by default), so the reminder keeps the grain
/// alive and brings it back after a restart, and for a shorter interval a timer scans while the grain is
/// active. Changing the silo-wide reminder minimum would affect every grain.
/// </summary>
internal sealed class ScanCadence(
    Grain grain, string reminder, TimeSpan interval, TimeSpan minimumReminderPeriod, TimeProvider time,
    Func<DateTimeOffset?> lastScan, Func<Task> scan)
{
    private IGrainTimer? _timer;
    private bool _scheduled;

    /// <summary>Makes sure the reminder and, for a short interval, the timer are in place (idempotent).</summary>
    public async Task Start()
    {
        if (_scheduled)
        {
            return;
        }
        var period = interval > minimumReminderPeriod ? interval : minimumReminderPeriod;
        await grain.RegisterOrUpdateReminder(reminder, period, period);
        EnsureTimer();
        _scheduled = true;
    }

    /// <summary>The reminder fired: the grain may have just come back, so the timer is restarted, and the scan runs when due.</summary>
    public Task Remind()
    {
        _scheduled = true;
        EnsureTimer();
        return ScanIfDue();
    }

    /// <summary>Whether the last scan is recent enough to answer a reader without scanning again.</summary>
    public bool Fresh => lastScan() is { } at && time.GetUtcNow() - at < interval;

    private async Task ScanIfDue()
    {
        // A little early counts as due: the timer and the reminder need not line up to the millisecond.
        if (lastScan() is not { } at || time.GetUtcNow() - at >= interval * 0.9)
        {
            await scan();
        }
    }

    private void EnsureTimer()
    {
        if (_timer is not null || interval >= minimumReminderPeriod)
        {
            return;
        }
        _timer = grain.RegisterGrainTimer(async _ => await ScanIfDue(), new GrainTimerCreationOptions(interval, interval) { Interleave = false, KeepAlive = true });
    }
}
