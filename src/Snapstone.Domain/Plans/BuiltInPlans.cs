namespace Snapstone.Domain.Plans;

/// <summary>The plans that exist from the start and cannot be redefined.</summary>
public static class BuiltInPlans
{
    public const string StandardName = "standard";
    public const string HighRiskName = "high-risk";
    public const string EmergencyName = "emergency";

    /// <summary>Break-glass only: a minimal canary, then everyone; still watched and rolled back on regression.</summary>
    public static readonly Plan Emergency = new(
    [
        new WaveSpec { Name = "canary", Select = new WaveSelect { Tier = "canary" }, BakeSeconds = 30 },
        new WaveSpec { Name = "all", Select = new WaveSelect { Percent = 100 }, BakeSeconds = 120 },
    ]);

    /// <summary>canary tier → 1% → 10% → 50% → 100%, default gates.</summary>
    public static readonly Plan Standard = new(
    [
        new WaveSpec { Name = "canary", Select = new WaveSelect { Tier = "canary" }, BakeSeconds = 60 },
        new WaveSpec { Name = "one-percent", Select = new WaveSelect { Percent = 1 }, BakeSeconds = 120 },
        new WaveSpec { Name = "ten-percent", Select = new WaveSelect { Percent = 10 }, BakeSeconds = 180 },
        new WaveSpec { Name = "half", Select = new WaveSelect { Percent = 50 }, BakeSeconds = 300 },
        new WaveSpec { Name = "all", Select = new WaveSelect { Percent = 100 }, BakeSeconds = 300 },
    ]);

    private static readonly Gates StrictGates = new()
    {
        MaxErrorRate = 0.005,
        MaxErrorRateRatio = 1.5,
        MaxP99LatencyRatio = 1.25,
        MaxCrashes = 0,
        MaxRejected = 0,
        MinReportingFraction = 0.95,
    };

    /// <summary>
    /// More waves, longer bakes, stricter gates, and a person's approval before the first wave and before
    /// the wave that reaches the whole fleet: canary → 0.5% → 2% → 10% → 25% → 50% → 100%.
    /// </summary>
    public static readonly Plan HighRisk = new(
    [
        new WaveSpec { Name = "canary", Select = new WaveSelect { Tier = "canary" }, BakeSeconds = 300, Gates = StrictGates, RequiresApproval = true },
        new WaveSpec { Name = "half-percent", Select = new WaveSelect { Percent = 0.5 }, BakeSeconds = 600, Gates = StrictGates },
        new WaveSpec { Name = "two-percent", Select = new WaveSelect { Percent = 2 }, BakeSeconds = 600, Gates = StrictGates },
        new WaveSpec { Name = "ten-percent", Select = new WaveSelect { Percent = 10 }, BakeSeconds = 900, Gates = StrictGates },
        new WaveSpec { Name = "quarter", Select = new WaveSelect { Percent = 25 }, BakeSeconds = 1200, Gates = StrictGates },
        new WaveSpec { Name = "half", Select = new WaveSelect { Percent = 50 }, BakeSeconds = 1200, Gates = StrictGates },
        new WaveSpec { Name = "all", Select = new WaveSelect { Percent = 100 }, BakeSeconds = 1800, Gates = StrictGates, RequiresApproval = true },
    ]);

    public static Plan? Find(string name) => name switch
    {
        StandardName => Standard,
        HighRiskName => HighRisk,
        EmergencyName => Emergency,
        _ => null,
    };
}
