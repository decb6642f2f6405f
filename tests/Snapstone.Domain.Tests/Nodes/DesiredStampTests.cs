using Snapstone.Domain.Nodes;

namespace Snapstone.Domain.Tests.Nodes;

public class DesiredStampTests
{
    private static SortedDictionary<string, DesiredPackage> Units(params (string Unit, long Version, char Sha)[] units)
    {
        var sorted = new SortedDictionary<string, DesiredPackage>(StringComparer.Ordinal);
        foreach (var (unit, version, sha) in units)
        {
            sorted[unit] = new DesiredPackage(version, new string(sha, 64));
        }
        return sorted;
    }

    /// <summary>
    /// Pinned values: a stamp seeded per process (as <see cref="HashCode"/> is) would differ from these on every run,
    /// and a poller would be told "changed" after every restart.
    /// </summary>
    public static TheoryData<string, SortedDictionary<string, DesiredPackage>, long> Pinned => new()
    {
        { "nothing desired", Units(), 0 },
        { "one unit", Units(("bot-features", 8, 'a')), 0x7700911c7355c357 },
        { "another version", Units(("bot-features", 9, 'a')), 0x749bdf531ea179e9 },
        { "another hash", Units(("bot-features", 8, 'b')), 0x5f88ce2eb11d3997 },
        { "two units", Units(("bot-features", 8, 'a'), ("killswitch", 1, 'c')), 0x5ab30d9f85cf4745 },
    };

    [Theory]
    [MemberData(nameof(Pinned))]
    public void A_desired_state_has_the_same_stamp_in_every_process(string because, SortedDictionary<string, DesiredPackage> units, long stamp)
    {
        _ = because;
        Assert.Equal(stamp.ToString("x"), DesiredStamp.Of(units).ToString("x"));
    }

    [Fact]
    public void Stamps_are_positive_and_name_boundaries_count()
    {
        var split = DesiredStamp.Of(Units(("ab", 1, 'a'), ("c", 1, 'a')));
        var joined = DesiredStamp.Of(Units(("a", 1, 'a'), ("bc", 1, 'a')));
        Assert.NotEqual(split, joined);
        Assert.True(split > 0 && joined > 0);
        Assert.Throws<ArgumentException>(() => DesiredStamp.Of(new SortedDictionary<string, DesiredPackage>(StringComparer.OrdinalIgnoreCase)));
    }
}
