using System.Reflection;
using Snapstone.Client;

namespace Snapstone.Server.Tests;

/// <summary>
/// What an internal service can reach: Snapstone.Client and, through it, Snapstone.Abstractions. Only the operations
/// the HTTP gateway has, each checking its own rules; no fan-out, reservation, ledger, quarantine, chain append or
/// break-glass internals. A method added to either surface fails here until it is put on the list on purpose.
/// </summary>
public sealed class ContractSurfaceTests
{
    private static readonly Assembly Abstractions = typeof(IUnitGrain).Assembly;

    /// <summary>Every method of every public grain interface, by interface.</summary>
    private static readonly Dictionary<string, string[]> Reachable = new()
    {
        ["IUnitGrain"] = ["ApproveDefinition", "CreatePackage", "Define", "Get", "GetPackage", "ListPackages", "Pipeline", "Rollouts", "StartRollout", "ValidatePackage"],
        ["IRolloutGrain"] = ["Abort", "Approve", "Get", "Pause", "Resume", "WaitForTimeline"],
        // Reads of what a rollout recorded outside its state row, and re-judging it: nothing that changes it.
        ["IRolloutRecordsGrain"] = ["Evidence", "Judge", "ReadTimeline"],
        ["ICatalogGrain"] = ["Get"],
        ["IPackageContentGrain"] = ["Get"],
        ["IPlanGrain"] = ["Define", "Get"],
        ["INodeHealthGrain"] = ["Enrol", "GetView", "Report", "WaitForDesired"],
        ["IAuditGrain"] = ["Read", "Verify"],
        ["IControlGrain"] = ["FreezeOf", "Freezes"],
        ["IBreakGlassGrain"] = ["Deploy", "Freeze", "Get", "Lift", "Rollback"],
        ["IIncidentGrain"] = ["Get", "Post"],
        ["IIncidentIndexGrain"] = ["List"],
        ["IWebhookRegistryGrain"] = ["Define", "List", "Remove"],
        ["INotificationRegistryGrain"] = ["Define", "Get", "List", "Remove"],
        // Read-only: deliveries ask and report through the cluster's own IReceiverBreakerGrain.
        ["IReceiverCircuitGrain"] = ["Get"],
        // Fleet membership and drift reads: no fan-out or reservation among them (node enrolment is its own piece of work).
        ["IPopGrain"] = ["Consumers", "Members", "Register", "Summary", "Unregister"],
        ["IFleetGrain"] = ["ConsumerShare", "Pops", "RegisterPop", "Summary", "UnregisterPop"],
        ["IDriftGrain"] = ["Counts", "Latest", "Scan", "Start"],
        ["IFleetDriftGrain"] = ["Check", "Latest", "Start"],
    };

    /// <summary>The cluster's own operations: none may be reachable from the client's surface.</summary>
    private static readonly string[] Internal =
    [
        "AssignWave", "ObserveWave", "RollBack", "ObserveRollback", "ReturnAll", "ObserveReturn", "OrdersFor",
        "Assign", "ReturnTo", "Observe", "Watch", "Observed", "DriftFacts",
        "ReserveRollout", "PrepareRollback", "LaunchEmergency", "RolloutChanged", "Quarantine",
        "Upsert", "Subscribe", "Append", "Signal", "StopForBreakGlass", "Wake",
        "Put", "Nudge", "Track", "Done", "OpenActions", "Open", "Update", "Publish", "Deliver",
        "Admit", "Counted", "Enrolled", "Alarm", "Receive",
    ];

    /// <summary>The messages of the cluster's own operations.</summary>
    private static readonly string[] InternalTypes =
    [
        "WaveOrder", "WaveAssignment", "WaveEvidence", "RollbackSent", "RollbackConfirmations", "UnitReturn", "NodeAssignment",
        "NodeOrder", "NodeObservation", "PushedObservation", "RolloutTicket", "BreakGlassReturn", "WebhookEvent", "DeliveryStatus", "RolloutAlarm",
    ];

    private static IEnumerable<Type> GrainInterfaces() =>
        Abstractions.GetExportedTypes().Where(t => t.IsInterface && typeof(IGrain).IsAssignableFrom(t));

    [Fact]
    public void Every_public_grain_interface_offers_exactly_the_listed_operations()
    {
        var found = GrainInterfaces().ToDictionary(t => t.Name, t => t.GetMethods().Select(m => m.Name).Distinct().Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(Reachable.Keys.Order(StringComparer.Ordinal), found.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, methods) in Reachable)
        {
            Assert.True(methods.Order(StringComparer.Ordinal).SequenceEqual(found[name]),
                $"{name} offers {string.Join(", ", found[name])}; the list says {string.Join(", ", methods)}");
        }
    }

    [Fact]
    public void No_fan_out_reservation_ledger_or_append_operation_is_reachable_from_abstractions_or_the_client()
    {
        var abstractionMethods = GrainInterfaces().SelectMany(t => t.GetMethods().Select(m => $"{t.Name}.{m.Name}"));
        var clientMethods = typeof(SnapstoneClient).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
            .Select(m => $"SnapstoneClient.{m.Name}");
        var reachable = abstractionMethods.Concat(clientMethods).Where(m => Internal.Contains(m.Split('.')[1])).ToList();
        Assert.True(reachable.Count == 0, $"reachable from the client's surface: {string.Join(", ", reachable)}");

        var types = Abstractions.GetExportedTypes().Select(t => t.Name).Intersect(InternalTypes).ToList();
        Assert.True(types.Count == 0, $"internal messages exported by Snapstone.Abstractions: {string.Join(", ", types)}");
    }

    [Fact]
    public void The_embedded_client_does_not_reference_the_grains_assembly()
    {
        var referenced = typeof(SnapstoneClient).Assembly.GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.Contains("Snapstone.Abstractions", referenced);
        Assert.DoesNotContain("Snapstone.Grains", referenced);
        Assert.DoesNotContain("Snapstone.Server", referenced);
    }

    [Fact]
    public void No_public_operation_of_the_client_takes_or_answers_an_internal_message()
    {
        var internalTypes = typeof(Snapstone.Grains.IUnitRolloutsGrain).Assembly.GetExportedTypes().Where(t => InternalTypes.Contains(t.Name)).ToHashSet();
        Assert.Equal(InternalTypes.Length, internalTypes.Count);
        var offending = typeof(SnapstoneClient).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
            .Where(m => m.GetParameters().Select(p => p.ParameterType).Append(m.ReturnType).SelectMany(Unwrap).Any(internalTypes.Contains))
            .Select(m => m.Name).ToList();
        Assert.True(offending.Count == 0, $"client operations with internal messages: {string.Join(", ", offending)}");
    }

    private static IEnumerable<Type> Unwrap(Type type) =>
        type.IsGenericType ? type.GetGenericArguments().SelectMany(Unwrap).Prepend(type) : [type];
}
