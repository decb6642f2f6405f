namespace Snapstone.Simulator.Traffic;

/// <summary>
/// An upstream disturbance: for <see cref="Length"/> every node of the fleet fails an extra <see cref="ErrorShare"/>
/// of its requests, whatever package it runs (an origin or a shared dependency failing, not a change). The failures
/// are drawn with each node's own seeded random numbers, so the same fleet started at the same point sees the same
/// errors.
/// </summary>
/// <example>20% for 3 s: a node serving 800 requests a second fails about 160 more each second of the window.</example>
public sealed record Disturbance(double ErrorShare, TimeSpan Length)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the field that is out of range.</summary>
    public void Check()
    {
        if (ErrorShare is not (> 0 and <= 1))
        {
            throw new ArgumentException($"disturbance errorShare must be above 0 and at most 1 (got {ErrorShare})");
        }
        if (Length <= TimeSpan.Zero)
        {
            throw new ArgumentException($"disturbance length must be positive (got {Length})");
        }
    }

    /// <summary>The disturbance started at <paramref name="from"/>.</summary>
    public DisturbanceWindow From(DateTimeOffset from) => new(this, from, from + Length);
}

/// <summary>A <see cref="Disturbance"/> in time: it raises errors from <see cref="Start"/> until <see cref="End"/>.</summary>
public sealed record DisturbanceWindow(Disturbance Disturbance, DateTimeOffset Start, DateTimeOffset End)
{
    /// <summary>
    /// The extra share of failed requests over the interval from <paramref name="from"/> to <paramref name="to"/>: the
    /// disturbance's share times the part of the interval it covers.
    /// </summary>
    /// <example>
    /// 20% from 10:00:01 to 10:00:04. The interval 10:00:00.75–10:00:01.00: 0. 10:00:01.50–10:00:01.75: 0.2.
    /// 10:00:03.875–10:00:04.125 (half inside): 0.1. An interval of no length inside the window: 0.2.
    /// </example>
    public double ErrorShareOver(DateTimeOffset from, DateTimeOffset to)
    {
        if (to <= from)
        {
            return to >= Start && to < End ? Disturbance.ErrorShare : 0;
        }
        var overlap = (Min(to, End) - Max(from, Start)).Ticks;
        return overlap <= 0 ? 0 : Disturbance.ErrorShare * overlap / (to - from).Ticks;
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;
}
