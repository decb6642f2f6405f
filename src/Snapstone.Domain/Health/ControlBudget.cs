namespace Snapstone.Domain.Health;

/// <summary>
/// How many control nodes each PoP samples for a wave's verdict. The control is the untouched fleet, so a fixed number
/// per PoP makes every tick's cost grow with the fleet (100 per PoP is 2,000 node calls a tick in 20 PoPs and 20,000
/// in 200). The budget is shared over the PoPs instead: <see cref="Fleet"/> samples in all, spread evenly, never fewer
/// than <see cref="MinPerPop"/> a PoP (a segment check compares each PoP's cohort with its own PoP's control, and needs
/// some) and never more than <see cref="MaxPerPop"/> (what one PoP gave before). Up to 20 PoPs nothing changes; in 200
/// PoPs a tick asks 2,000 control nodes, not 20,000.
/// </summary>
/// <example>
/// 4 PoPs: 500 each by the budget, capped at 100 → 400 in all. 20 PoPs: 100 each → 2,000. 200 PoPs: 10 each →
/// 2,000. 1,000 PoPs: 2 each by the budget, raised to 5 → 5,000.
/// </example>
public static class ControlBudget
{
    /// <summary>Control samples a wave tick asks for across the fleet, before the per-PoP bounds.</summary>
    public const int Fleet = 2_000;

    public const int MinPerPop = 5;

    public const int MaxPerPop = 100;

    /// <summary>Control nodes each of <paramref name="pops"/> PoPs samples.</summary>
    public static int PerPop(int pops) =>
        pops <= 0 ? MaxPerPop : Math.Clamp((Fleet + pops - 1) / pops, MinPerPop, MaxPerPop);
}
