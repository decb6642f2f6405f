using System.Text;
using Snapstone.Server.Http;

namespace Snapstone.Server.Tests;

/// <summary>The batch counter reads tokens as they arrive, in chunks of any size, and counts only the named top-level array.</summary>
public sealed class ArrayItemCounterTests
{
    [Theory]
    [InlineData("""{"reports":[]}""", 3, 0, true)]
    [InlineData("""{"reports":[{},{},{}]}""", 3, 3, true)]
    [InlineData("""{"reports":[{},{},{},{}]}""", 3, 4, false)]
    [InlineData("""{"reports":[1,"two",null,[4]]}""", 10, 4, true)]
    [InlineData("""{"reports":[{"node":"a","applied":{"u":{"version":1}},"metrics":[1,2,3]}]}""", 1, 1, true)]
    [InlineData("""{"other":[{},{},{},{}],"reports":[{}]}""", 1, 1, true)]
    [InlineData("""{"nested":{"reports":[{},{},{}]},"reports":[{}]}""", 1, 1, true)]
    [InlineData("""{"reports":"not an array"}""", 1, 0, true)]
    [InlineData("""{"reports":[{},{},""", 1, 2, false)]
    [InlineData("""{"reports":[{} {} {}]}""", 1, 1, true)]
    public void It_counts_the_items_of_the_named_array_whatever_the_chunks(string json, int limit, int count, bool within)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        foreach (var chunk in new[] { 1, 2, 3, 7, bytes.Length })
        {
            var counter = new ArrayItemCounter("reports", limit);
            var ok = true;
            for (var end = Math.Min(chunk, bytes.Length); ok; end = Math.Min(end + chunk, bytes.Length))
            {
                ok = counter.Feed(bytes.AsSpan(0, end), final: false);
                if (end == bytes.Length)
                {
                    break;
                }
            }
            ok = ok && counter.Feed(bytes, final: true);
            Assert.True(within == ok, $"chunks of {chunk}: within limit {ok}, expected {within}");
            Assert.True(count == counter.Count, $"chunks of {chunk}: counted {counter.Count}, expected {count}");
        }
    }
}
