using System.Net;
using System.Text;
using Snapstone.Domain.Webhooks;

namespace Snapstone.Domain.Tests.Webhooks;

public sealed class DestinationsTests
{
    [Theory]
    [InlineData("127.0.0.1", "loopback (127.0.0.0/8)")]
    [InlineData("127.255.255.254", "loopback (127.0.0.0/8)")]
    [InlineData("::1", "loopback (::1)")]
    [InlineData("169.254.169.254", "link-local (169.254.0.0/16, where cloud metadata services answer)")]
    [InlineData("fe80::1", "link-local (fe80::/10)")]
    [InlineData("febf:ffff::1", "link-local (fe80::/10)")]
    [InlineData("10.0.0.1", "private (10.0.0.0/8)")]
    [InlineData("172.16.0.1", "private (172.16.0.0/12)")]
    [InlineData("172.31.255.255", "private (172.16.0.0/12)")]
    [InlineData("192.168.1.1", "private (192.168.0.0/16)")]
    [InlineData("fc00::1", "unique-local (fc00::/7)")]
    [InlineData("fd12:3456::1", "unique-local (fc00::/7)")]
    [InlineData("0.0.0.0", "unspecified (0.0.0.0/8)")]
    [InlineData("::", "unspecified (::)")]
    [InlineData("224.0.0.1", "multicast (224.0.0.0/4)")]
    [InlineData("ff02::1", "multicast (ff00::/8)")]
    [InlineData("100.64.0.1", "carrier-grade NAT (100.64.0.0/10)")]
    [InlineData("100.127.255.255", "carrier-grade NAT (100.64.0.0/10)")]
    [InlineData("255.255.255.255", "reserved (240.0.0.0/4, broadcast included)")]
    [InlineData("::ffff:127.0.0.1", "loopback (127.0.0.0/8)")]
    [InlineData("::ffff:169.254.169.254", "link-local (169.254.0.0/16, where cloud metadata services answer)")]
    [InlineData("::ffff:10.0.0.1", "private (10.0.0.0/8)")]
    [InlineData("::10.0.0.1", "private (10.0.0.0/8)")]
    [InlineData("64:ff9b::a9fe:a9fe", "link-local (169.254.0.0/16, where cloud metadata services answer)")]
    [InlineData("2002:7f00:1::", "loopback (127.0.0.0/8)")]
    public void Inward_addresses_are_named_with_their_block(string address, string why) =>
        Assert.Equal(why, Destinations.Inwardness(IPAddress.Parse(address)));

    [Theory]
    [InlineData("93.184.215.14")]
    [InlineData("8.8.8.8")]
    [InlineData("172.15.255.255")]
    [InlineData("172.32.0.0")]
    [InlineData("100.63.255.255")]
    [InlineData("100.128.0.0")]
    [InlineData("169.253.255.255")]
    [InlineData("11.0.0.1")]
    [InlineData("2606:4700::1111")]
    [InlineData("::ffff:8.8.8.8")]
    [InlineData("fec0::1")]
    public void Addresses_out_on_the_internet_pass(string address) =>
        Assert.Null(Destinations.Inwardness(IPAddress.Parse(address)));

    public static TheoryData<string[], string, string, bool> AllowListCases() => new()
    {
        { ["127.0.0.1"], "127.0.0.1", "127.0.0.1", true },
        { ["127.0.0.1"], "127.0.0.2", "127.0.0.2", false },
        { ["127.0.0.0/8"], "127.9.9.9", "127.9.9.9", true },
        { ["127.0.0.0/8"], "127.0.0.1", "::ffff:127.0.0.1", true },
        { ["10.20.0.0/16"], "10.21.0.1", "10.21.0.1", false },
        { ["::1"], "[::1]", "::1", true },
        { ["hooks.lab"], "HOOKS.lab", "10.0.0.5", true },
        { ["hooks.lab"], "evil.hooks.lab", "10.0.0.5", false },
        { ["localhost"], "localhost", "127.0.0.1", true },
        { [], "localhost", "127.0.0.1", false },
    };

    [Theory]
    [MemberData(nameof(AllowListCases))]
    public void The_allow_list_names_addresses_blocks_and_whole_host_names(string[] entries, string host, string address, bool allowed)
    {
        var (list, errors) = AllowList.Parse(entries);
        Assert.Empty(errors);
        Assert.Equal(allowed, Destinations.Check(host, IPAddress.Parse(address), list) is null);
    }

    [Theory]
    [InlineData("10.0.0.0/33", "Snapstone:Webhooks:AllowedDestinations entry '10.0.0.0/33' is not a CIDR block (e.g. 10.20.0.0/16)")]
    [InlineData("not a host", "Snapstone:Webhooks:AllowedDestinations entry 'not a host' is neither a CIDR block, an address nor a host name")]
    public void Bad_allow_list_entries_are_named(string entry, string error) =>
        Assert.Equal([error], AllowList.Parse([entry]).Errors);

    [Fact]
    public void A_refusal_names_the_host_the_address_why_and_the_key()
    {
        Assert.Equal("'169.254.169.254' is link-local (169.254.0.0/16, where cloud metadata services answer): webhooks and notifications are not sent inside the cluster's network unless Snapstone:Webhooks:AllowedDestinations names the address or host",
            Destinations.Check("169.254.169.254", IPAddress.Parse("169.254.169.254"), AllowList.None));
        Assert.StartsWith("'hooks.example' resolves to 10.0.0.7, which is private (10.0.0.0/8)",
            Destinations.Check("hooks.example", [IPAddress.Parse("93.184.215.14"), IPAddress.Parse("10.0.0.7")], AllowList.None));
        Assert.Null(Destinations.Check("hooks.example", [IPAddress.Parse("93.184.215.14")], AllowList.None));
    }
}

public sealed class WebhookSignatureTests
{
    private const string Secret = "webhook-secret-0123456789";
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("{\"id\":\"inc-1\"}");

    [Fact]
    public void The_signature_is_the_hmac_of_the_timestamp_a_dot_and_the_body()
    {
        var expected = "sha256=" + Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), Encoding.UTF8.GetBytes("1800000000.{\"id\":\"inc-1\"}")));
        Assert.Equal(expected, WebhookSignature.Sign(Secret, 1_800_000_000, Body));
    }

    public static TheoryData<string?, string?, string, int, SignatureCheck> Checks()
    {
        var now = Now.ToUnixTimeSeconds();
        string Signed(long at, string secret = Secret) => WebhookSignature.Sign(secret, at, Body);
        return new()
        {
            { now.ToString(), Signed(now), "{\"id\":\"inc-1\"}", 0, SignatureCheck.Valid },
            { (now - 299).ToString(), Signed(now - 299), "{\"id\":\"inc-1\"}", 0, SignatureCheck.Valid },
            { (now - 301).ToString(), Signed(now - 301), "{\"id\":\"inc-1\"}", 0, SignatureCheck.Stale },
            { (now + 301).ToString(), Signed(now + 301), "{\"id\":\"inc-1\"}", 0, SignatureCheck.Stale },
            { (now - 3600).ToString(), Signed(now - 3600), "{\"id\":\"inc-1\"}", 7200, SignatureCheck.Valid },
            { now.ToString(), Signed(now), "{\"id\":\"inc-2\"}", 0, SignatureCheck.Mismatch },
            { now.ToString(), Signed(now - 1), "{\"id\":\"inc-1\"}", 0, SignatureCheck.Mismatch },
            { now.ToString(), Signed(now, "another-secret-0123456789"), "{\"id\":\"inc-1\"}", 0, SignatureCheck.Mismatch },
            { null, Signed(now), "{\"id\":\"inc-1\"}", 0, SignatureCheck.MissingTimestamp },
            { "-5", Signed(now), "{\"id\":\"inc-1\"}", 0, SignatureCheck.MissingTimestamp },
            { now.ToString(), null, "{\"id\":\"inc-1\"}", 0, SignatureCheck.MissingSignature },
            { now.ToString(), "md5=abc", "{\"id\":\"inc-1\"}", 0, SignatureCheck.MissingSignature },
        };
    }

    [Theory]
    [MemberData(nameof(Checks))]
    public void The_receivers_check_accepts_only_a_fresh_matching_signature(string? timestamp, string? signature, string body, int toleranceSeconds, SignatureCheck expected) =>
        Assert.Equal(expected, WebhookSignature.Verify(Secret, timestamp, signature, Encoding.UTF8.GetBytes(body), Now,
            toleranceSeconds == 0 ? null : TimeSpan.FromSeconds(toleranceSeconds)));
}

public sealed class DeliveryPolicyTests
{
    [Theory]
    [InlineData(200, null, AttemptVerdict.Delivered, null)]
    [InlineData(204, null, AttemptVerdict.Delivered, null)]
    [InlineData(301, "https://elsewhere.example/", AttemptVerdict.Permanent, "HTTP 301: redirect to https://elsewhere.example/ not followed")]
    [InlineData(307, null, AttemptVerdict.Permanent, "HTTP 307: redirect to (no Location) not followed")]
    [InlineData(400, null, AttemptVerdict.Permanent, "HTTP 400: refused by the receiver, not retried")]
    [InlineData(404, null, AttemptVerdict.Permanent, "HTTP 404: refused by the receiver, not retried")]
    [InlineData(408, null, AttemptVerdict.Retry, "HTTP 408")]
    [InlineData(429, null, AttemptVerdict.Retry, "HTTP 429")]
    [InlineData(500, null, AttemptVerdict.Retry, "HTTP 500")]
    [InlineData(503, null, AttemptVerdict.Retry, "HTTP 503")]
    public void Answers_are_judged_by_their_status(int status, string? location, AttemptVerdict verdict, string? error) =>
        Assert.Equal((verdict, error), DeliveryPolicy.Judge(new AttemptOutcome(status, location)));

    [Fact]
    public void No_answer_is_retried_with_its_error() =>
        Assert.Equal((AttemptVerdict.Retry, "Connection refused"), DeliveryPolicy.Judge(new AttemptOutcome(null, Error: "Connection refused")));

    [Fact]
    public void A_connection_snapstone_refused_itself_is_not_retried() =>
        Assert.Equal((AttemptVerdict.Permanent, "'hooks.example' resolves to 10.0.0.1"), DeliveryPolicy.Judge(new AttemptOutcome(null, Error: "'hooks.example' resolves to 10.0.0.1", Refused: true)));

    [Theory]
    [InlineData(1, 0.0, null, 0.5)]
    [InlineData(1, 0.999999, null, 1.0)]
    [InlineData(3, 0.5, null, 3.0)]
    [InlineData(11, 0.0, null, 300.0)]
    [InlineData(30, 0.999999, null, 600.0)]
    [InlineData(3, 0.5, 120.0, 120.0)]
    [InlineData(3, 0.5, 1.0, 3.0)]
    [InlineData(3, 0.5, 86400.0, 1800.0)]
    public void Pauses_double_with_jitter_up_to_a_cap_and_honour_retry_after_within_its_cap(int attempt, double draw, double? retryAfter, double seconds) =>
        Assert.Equal(seconds, DeliveryPolicy.Pause(attempt, draw, retryAfter is { } r ? TimeSpan.FromSeconds(r) : null).TotalSeconds, 2);
}

public sealed class CircuitTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Cooldown = TimeSpan.FromSeconds(30);

    [Fact]
    public void It_opens_after_the_threshold_of_failures_in_a_row_and_a_success_resets_the_count()
    {
        var c = Circuit.Closed.Failed(T0, "HTTP 503", 3, Cooldown).Failed(T0, "HTTP 503", 3, Cooldown);
        Assert.Equal(CircuitState.Closed, c.State);
        Assert.Equal(CircuitState.Closed, c.Succeeded().Failed(T0, "HTTP 503", 3, Cooldown).State);
        var open = c.Failed(T0.AddSeconds(1), "HTTP 500", 3, Cooldown);
        Assert.Equal(("open", 3, "HTTP 500"), (open.WireState, open.ConsecutiveFailures, open.LastError));
        Assert.Equal(T0.AddSeconds(31), open.OpenUntil);
    }

    [Fact]
    public void An_open_circuit_holds_every_attempt_until_the_cooldown_then_lets_exactly_one_probe_go()
    {
        var open = Circuit.Closed.Failed(T0, "HTTP 503", 1, Cooldown);
        var (held, wait) = open.Ask(T0.AddSeconds(10), Cooldown);
        Assert.Equal(new CircuitPermit(false, T0.AddSeconds(30)), wait);
        var (probing, probe) = held.Ask(T0.AddSeconds(30), Cooldown);
        Assert.True(probe.Go);
        Assert.Equal("half-open", probing.WireState);
        var (_, second) = probing.Ask(T0.AddSeconds(31), Cooldown);
        Assert.Equal(new CircuitPermit(false, T0.AddSeconds(60)), second);
        // A probe that never reports back frees its slot after one cooling period.
        Assert.True(probing.Ask(T0.AddSeconds(60), Cooldown).Permit.Go);
    }

    [Fact]
    public void The_probes_outcome_closes_or_reopens_it()
    {
        var (probing, _) = Circuit.Closed.Failed(T0, "HTTP 503", 5, Cooldown) with { State = CircuitState.Open, OpenUntil = T0 } is var o ? o.Ask(T0, Cooldown) : default;
        var closed = probing.Succeeded();
        Assert.Equal(("closed", 0, "HTTP 503"), (closed.WireState, closed.ConsecutiveFailures, closed.LastError));
        var reopened = probing.Failed(T0.AddSeconds(1), "timeout", 5, Cooldown);
        Assert.Equal(("open", T0.AddSeconds(31)), (reopened.WireState, reopened.OpenUntil));
    }
}
