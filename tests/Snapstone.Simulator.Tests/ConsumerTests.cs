using System.Text;
using Snapstone.Simulator.Consumers;

namespace Snapstone.Simulator.Tests;

public sealed class ConsumerTests
{
    private static readonly Dictionary<string, string> Fl1 = new() { ["proxy"] = "fl1" };
    private static readonly Dictionary<string, string> Fl2 = new() { ["proxy"] = "fl2" };

    private static byte[] FeatureFile(int count) =>
        Encoding.UTF8.GetBytes($$"""{"version": 3, "features": [{{string.Join(",", Enumerable.Range(0, count).Select(i => $"\"f{i}\""))}}]}""");

    [Theory]
    [InlineData(199, FailureMode.FailClosed, ConsumerVerdict.Applied)]
    [InlineData(200, FailureMode.FailClosed, ConsumerVerdict.Applied)]
    [InlineData(201, FailureMode.FailClosed, ConsumerVerdict.Crashed)]
    [InlineData(199, FailureMode.FailStale, ConsumerVerdict.Applied)]
    [InlineData(200, FailureMode.FailStale, ConsumerVerdict.Applied)]
    [InlineData(201, FailureMode.FailStale, ConsumerVerdict.Rejected)]
    [InlineData(201, FailureMode.FailOpen, ConsumerVerdict.Applied)]
    [InlineData(400, FailureMode.FailClosed, ConsumerVerdict.Crashed)]
    [InlineData(0, FailureMode.FailClosed, ConsumerVerdict.Applied)]
    public void Feature_file_over_200_entries_crashes_a_fail_closed_node_and_is_refused_by_a_fail_stale_one(
        int features, FailureMode mode, ConsumerVerdict expected)
    {
        var outcome = new FeatureFileConsumer(mode).Consume(FeatureFile(features));

        Assert.Equal(expected, outcome.Verdict);
        Assert.Equal(PackageEffect.None, outcome.Effect);
        if (expected == ConsumerVerdict.Applied)
        {
            Assert.Null(outcome.Error);
        }
        else
        {
            Assert.Equal($"feature file has {features} features, more than the 200 this proxy can hold", outcome.Error);
        }
    }

    [Theory]
    [InlineData("""{"features": {"a": 1, "b": 2, "c": 3}}""", 3, ConsumerVerdict.Applied, null)]
    [InlineData("""{"features": {"a": 1, "b": 2, "c": 3}}""", 2, ConsumerVerdict.Crashed, "feature file has 3 features, more than the 2 this proxy can hold")]
    [InlineData("""{"feat": []}""", 200, ConsumerVerdict.Crashed, "feature file has no $.features")]
    [InlineData("""{"features": 7}""", 200, ConsumerVerdict.Crashed, "feature file's $.features is a Number, not a list")]
    [InlineData("""[1, 2]""", 200, ConsumerVerdict.Crashed, "feature file has no $.features")]
    public void Feature_file_counts_objects_by_property_and_treats_a_missing_list_as_unusable(
        string content, int max, ConsumerVerdict expected, string? error)
    {
        var outcome = new FeatureFileConsumer(FailureMode.FailClosed, max).Consume(Encoding.UTF8.GetBytes(content));

        Assert.Equal(expected, outcome.Verdict);
        Assert.Equal(error, outcome.Error);
    }

    [Theory]
    [InlineData(FailureMode.FailClosed, ConsumerVerdict.Crashed)]
    [InlineData(FailureMode.FailStale, ConsumerVerdict.Rejected)]
    [InlineData(FailureMode.FailOpen, ConsumerVerdict.Applied)]
    public void Feature_file_that_is_not_json_is_unusable(FailureMode mode, ConsumerVerdict expected)
    {
        var outcome = new FeatureFileConsumer(mode).Consume("features: [a, b]"u8);

        Assert.Equal(expected, outcome.Verdict);
        Assert.Equal(expected != ConsumerVerdict.Applied, outcome.Error?.StartsWith("feature file is not JSON", StringComparison.Ordinal) ?? false);
    }

    [Theory]
    [InlineData("""{"killswitch": true}""", 0.28, 0.0)]
    [InlineData("""{"killswitch": false}""", 0.0, 0.0)]
    [InlineData("""{"other": true}""", 0.0, 0.0)]
    [InlineData("""{"killswitch": "true"}""", 0.0, 0.0)]
    public void Killswitch_on_fails_a_share_of_requests_only_on_nodes_with_the_affected_label(string content, double onFl1, double onFl2)
    {
        var outcome = new KillswitchConsumer(new LabelMatch("proxy", "fl1")).Consume(Encoding.UTF8.GetBytes(content));

        Assert.Equal(ConsumerVerdict.Applied, outcome.Verdict);
        Assert.Equal(onFl1, outcome.Effect.ErrorShareOn(Fl1));
        Assert.Equal(onFl2, outcome.Effect.ErrorShareOn(Fl2));
        Assert.Equal(0, outcome.Effect.ErrorShareOn(new Dictionary<string, string>()));
        Assert.Equal(0, outcome.Effect.ExtraLatencyMs);
    }

    [Theory]
    [InlineData("killswitch=on", "flag file is not JSON")]
    [InlineData("[true]", "flag file must be a JSON object")]
    public void Killswitch_refuses_a_flag_file_it_cannot_read(string content, string error)
    {
        var outcome = new KillswitchConsumer(new LabelMatch("proxy", "fl1")).Consume(Encoding.UTF8.GetBytes(content));

        Assert.Equal(ConsumerVerdict.Rejected, outcome.Verdict);
        Assert.StartsWith(error, outcome.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"extraLatencyMs": 80}""", ConsumerVerdict.Applied, 80.0, null)]
    [InlineData("""{"extraLatencyMs": 0.5}""", ConsumerVerdict.Applied, 0.5, null)]
    [InlineData("""{"other": 1}""", ConsumerVerdict.Applied, 0.0, null)]
    [InlineData("""{"extraLatencyMs": -5}""", ConsumerVerdict.Rejected, 0.0, "extraLatencyMs must be a number of 0 or more")]
    [InlineData("""{"extraLatencyMs": "80"}""", ConsumerVerdict.Rejected, 0.0, "extraLatencyMs must be a number of 0 or more")]
    [InlineData("""80""", ConsumerVerdict.Rejected, 0.0, "latency file must be a JSON object")]
    public void Latency_package_adds_latency_and_no_errors(string content, ConsumerVerdict expected, double extraMs, string? error)
    {
        var outcome = new LatencyConsumer().Consume(Encoding.UTF8.GetBytes(content));

        Assert.Equal(expected, outcome.Verdict);
        Assert.Equal(extraMs, outcome.Effect.ExtraLatencyMs);
        Assert.Equal(0, outcome.Effect.ErrorShareOn(Fl1));
        Assert.Equal(error, outcome.Error);
    }

    [Fact]
    public void Plain_consumer_applies_anything()
    {
        var outcome = new PlainConsumer().Consume([0xff, 0x00, 0x13]);

        Assert.Equal(ConsumerOutcome.Applied(PackageEffect.None), outcome);
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("latency", "latency")]
    [InlineData("features:fail-closed", "features(fail-closed, max 200)")]
    [InlineData("features:fail-stale:50", "features(fail-stale, max 50)")]
    [InlineData("killswitch", "killswitch(proxy=fl1 fails 28%)")]
    [InlineData("killswitch:proxy=fl2:0.5", "killswitch(proxy=fl2 fails 50%)")]
    public void Consumers_parse_from_text(string spec, string described)
    {
        Assert.Equal(described, ConsumerSpec.Parse(spec).Describe());
    }

    [Theory]
    [InlineData("features")]
    [InlineData("features:fail-slow")]
    [InlineData("killswitch:proxy")]
    [InlineData("killswitch:proxy=fl1:lots")]
    [InlineData("plain:extra")]
    [InlineData("magic")]
    public void Consumer_text_that_is_not_understood_is_refused(string spec)
    {
        Assert.Throws<FormatException>(() => ConsumerSpec.Parse(spec));
    }
}
