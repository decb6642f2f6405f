using Snapstone.Domain.Health;

namespace Snapstone.Domain.Tests.Health;

/// <summary>The control sample is shared over the PoPs: bounded per tick however many PoPs, and never none in a PoP.</summary>
public class ControlBudgetTests
{
    [Theory]
    [InlineData(0, 100)]     // no PoPs known: the old per-PoP figure, harmless
    [InlineData(1, 100)]
    [InlineData(4, 100)]     // a small fleet keeps what it had
    [InlineData(20, 100)]    // 2,000 in all, as before
    [InlineData(21, 96)]     // rounded up: never under the fleet budget
    [InlineData(200, 10)]    // 100,000 nodes in PoPs of 500: 2,000 in all, not 20,000
    [InlineData(400, 5)]
    [InlineData(1_000, 5)]   // floor: every PoP's segment still has a control
    public void Each_pop_samples_its_share_of_the_fleet_budget(int pops, int perPop) =>
        Assert.Equal(perPop, ControlBudget.PerPop(pops));

    [Theory]
    [InlineData(20)]
    [InlineData(57)]
    [InlineData(200)]
    public void Between_the_bounds_the_fleet_gets_at_least_the_budget_and_less_than_a_sample_more_per_pop(int pops)
    {
        var total = ControlBudget.PerPop(pops) * pops;
        Assert.InRange(total, ControlBudget.Fleet, ControlBudget.Fleet + pops - 1);
    }
}
