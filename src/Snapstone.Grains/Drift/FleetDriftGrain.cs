using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Snapstone.Domain.Drift;

namespace Snapstone.Grains.Drift;

[GenerateSerializer, Alias("snapstone.FleetDriftState")]
public sealed class FleetDriftState
{
    [Id(0)] public DriftIncidentMemory Memory { get; set; } = DriftIncidentMemory.None;
}

/// <summary>
/// The fleet's drift (key <see cref="IFleetDriftGrain.Key"/>): each scan interval it asks every PoP's drift grain
/// for its counts — numbers, never node lists — adds them up, and applies the step
/// <see cref="DriftIncidentPolicy"/> decides to the one drift incident. Only what the policy remembers is
/// persisted; the counts live in memory and the next check rebuilds them.
/// </summary>
public sealed class FleetDriftGrain(
    [PersistentState("fleet-drift", StorageNames.Grains)] IPersistentState<FleetDriftState> state,
    TimeProvider time,
    IOptions<DriftOptions> options,
    IOptions<ReminderOptions> reminderOptions,
    ILogger<FleetDriftGrain> logger) : Grain, IFleetDriftGrain, IRemindable
{
    private const string ReminderName = "fleet-drift-check";
    private FleetDrift? _latest;
    private DateTimeOffset? _checkedAt;
    private ScanCadence? _cadence;

    private ScanCadence Cadence => _cadence ??= new ScanCadence(this, ReminderName, options.Value.ScanInterval,
        reminderOptions.Value.MinimumReminderPeriod, time, () => _checkedAt, Check);

    public Task Start() => Cadence.Start();

    public async Task<FleetDrift> Latest()
    {
        await Start();
        return Cadence.Fresh ? _latest! : await Check();
    }

    public async Task<FleetDrift> Check()
    {
        var now = time.GetUtcNow();
        var settings = options.Value.Settings();
        var pops = await GrainFactory.GetGrain<IFleetGrain>(IFleetGrain.Key).Pops();
        var counted = (await Task.WhenAll(pops.Select(CountsOf))).OfType<DriftCounts>().ToList();
        var counts = counted.Aggregate(DriftCounts.None, (fleet, pop) => fleet.Plus(pop));
        // A PoP left out would make the share wrong either way: such a check decides nothing.
        if (counted.Count == pops.Count)
        {
            DriftMetrics.Checked(counts.Share);
            await Apply(counts, settings, now);
        }
        _checkedAt = now;
        _latest = new FleetDrift
        {
            Counts = counts,
            Pops = counted.Count,
            IncidentShare = settings.IncidentShare,
            IncidentMinNodes = settings.IncidentMinNodes,
            Incident = state.State.Memory.Incident,
        };
        return _latest;
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => Cadence.Remind();

    /// <summary>Load → decide → persist → tell the incident. A failure is logged and the next check, which decides afresh, puts it right.</summary>
    private async Task Apply(DriftCounts counts, DriftSettings settings, DateTimeOffset now)
    {
        try
        {
            var memory = state.State.Memory;
            var incident = memory.Incident is { } followed ? await Incident(followed).Get() : null;
            var step = DriftIncidentPolicy.Decide(memory, incident, counts, settings, "inc-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)), now);
            if (step.Memory != memory)
            {
                state.State.Memory = step.Memory;
                await state.WriteStateAsync();
            }
            if (step.Open is { } open)
            {
                await Incident(open.Id).Open(open);
                logger.LogWarning("Drift incident {Incident} opened: {Message}", open.Id, open.Updates[^1].Message);
                DriftMetrics.Incident(open.Status.ToString());
            }
            else if (step.Update is { } update && step.Memory.Incident is { } id)
            {
                await Incident(id).Update(update.Status, update.Message, DriftIncidentPolicy.Actor);
                logger.LogInformation("Drift incident {Incident} {Status}: {Message}", id, update.Status, update.Message);
                DriftMetrics.Incident(update.Status.ToString());
            }
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Fleet drift check could not open or update its incident; the next check will");
        }
    }

    /// <summary>One PoP's counts; null when it cannot answer, which keeps this check from deciding.</summary>
    private async Task<DriftCounts?> CountsOf(string pop)
    {
        try
        {
            return await GrainFactory.GetGrain<IDriftGrain>(pop).Counts();
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Fleet drift check could not count PoP {Pop}", pop);
            return null;
        }
    }

    private IIncidentWriterGrain Incident(string id) => GrainFactory.GetGrain<IIncidentWriterGrain>(id);
}
