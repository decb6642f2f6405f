using Microsoft.Extensions.Logging;
using Snapstone.Domain.Alarms;
using Snapstone.Domain.Units;

namespace Snapstone.Grains.Alarms;

/// <summary>One alert's memory: the firing it last saw and the rollouts that firing acted on.</summary>
[GenerateSerializer, Alias("snapstone.AlarmRecord")]
public sealed class AlarmRecord
{
    [Id(0)] public DateTimeOffset? StartsAt { get; set; }
    /// <summary>Rollouts the firing rolled back or paused, at most <see cref="AlarmGrain.MaxRollouts"/>: where its resolution is recorded.</summary>
    [Id(1)] public List<string> Rollouts { get; set; } = [];
}

/// <summary>
/// Routes one alert (keyed by its fingerprint) to the rollouts it names and answers what each did. The decisions are
/// the rollouts' own (<see cref="AlarmRules"/>); this grain only finds them. A repeated delivery reaches the same
/// rollouts, which answer <c>none</c> for a delivery they handled, so repeats act once and grow nothing.
/// </summary>
public sealed class AlarmGrain(
    [PersistentState("alarm", StorageNames.Grains)] IPersistentState<AlarmRecord> state,
    ILogger<AlarmGrain> logger) : Grain, IAlarmGrain
{
    public const int MaxRollouts = 200;

    public async Task<AlarmOutcome> Receive(Alert alert, string actor)
    {
        if (alert.Target.None)
        {
            return new AlarmOutcome
            {
                Alert = alert,
                Note = $"no {AlertRules.UnitLabel}, {AlertRules.PopLabel}, {AlertRules.RegionLabel} or global label: nothing to act on",
            };
        }
        List<(string Rollout, OnAlarm OnAlarm)> candidates;
        string note;
        if (alert.Status == AlertStatus.Firing)
        {
            (candidates, note) = await Candidates(alert.Target);
        }
        else
        {
            // A resolution is recorded where its firing acted (finished or not), and on the active rollout of a unit it names alone.
            (candidates, note) = alert.Target is { Unit: not null, Global: false, ByPlace: false } ? await Candidates(alert.Target) : ([], "");
            var remembered = state.State.StartsAt == alert.StartsAt ? state.State.Rollouts : [];
            candidates = [.. candidates, .. remembered.Where(r => candidates.All(c => c.Rollout != r)).Select(r => (r, OnAlarm.Rollback))];
            if (candidates.Count == 0)
            {
                note = "its firing acted on no rollout here: nothing to record";
            }
        }
        var effects = await Task.WhenAll(candidates.Select(c =>
            GrainFactory.GetGrain<IRolloutRunnerGrain>(c.Rollout).Alarm(new RolloutAlarm(alert, c.OnAlarm, actor))));
        await Remember(alert, effects);
        return new AlarmOutcome
        {
            Alert = alert,
            Effects = [.. effects.OrderBy(e => e.Rollout, StringComparer.Ordinal)],
            Note = effects.Length == 0 ? note : null,
        };
    }

    /// <summary>The active rollouts the target names, with their unit's onAlarm; a note when there are none.</summary>
    private async Task<(List<(string Rollout, OnAlarm OnAlarm)>, string)> Candidates(AlarmTarget target)
    {
        IEnumerable<string> units;
        if (target.Unit is { } unit && !target.Global)
        {
            units = [unit];
        }
        else
        {
            units = (await GrainFactory.GetGrain<ICatalogGrain>(ICatalogGrain.Key).Get()).Units.Keys;
        }
        var views = await Task.WhenAll(units.Select(u => GrainFactory.GetGrain<IUnitGrain>(u).Get()));
        var active = views.OfType<UnitView>().Where(v => v.ActiveRollout is not null)
            .Select(v => (v.ActiveRollout!, v.Definition.OnAlarm)).ToList();
        var note = target.Unit is { } named && !target.Global
            ? views[0] is null ? $"there is no unit {named}" : $"unit {named} has no active rollout"
            : "there is no active rollout";
        return (active, note);
    }

    /// <summary>A new firing forgets the last one's rollouts; the rollouts this one acted on are remembered for its resolution.</summary>
    private async Task Remember(Alert alert, AlarmEffect[] effects)
    {
        var changed = false;
        if (alert.Status == AlertStatus.Firing && state.State.StartsAt != alert.StartsAt)
        {
            state.State.StartsAt = alert.StartsAt;
            state.State.Rollouts.Clear();
            changed = true;
        }
        if (alert.Status == AlertStatus.Firing)
        {
            foreach (var effect in effects.Where(e => e.Action != AlarmAction.None && !state.State.Rollouts.Contains(e.Rollout)))
            {
                state.State.Rollouts.Add(effect.Rollout);
                changed = true;
            }
            if (state.State.Rollouts.Count > MaxRollouts)
            {
                state.State.Rollouts.RemoveRange(0, state.State.Rollouts.Count - MaxRollouts);
            }
        }
        if (changed)
        {
            await state.WriteStateAsync();
            logger.LogInformation("Alarm {Fingerprint} firing since {StartsAt}: acted on {Rollouts}", alert.Fingerprint, alert.StartsAt, string.Join(", ", state.State.Rollouts));
        }
    }
}
