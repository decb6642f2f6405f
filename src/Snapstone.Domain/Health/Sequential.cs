namespace Snapstone.Domain.Health;

/// <summary>
/// How strongly the data so far speaks against "within the gate": the largest value an always-valid mixture
/// likelihood ratio reached, slot by slot, and the slot where it first passed <c>1 / α</c>.
/// </summary>
internal readonly record struct Evidence(double MaxLog, long? CrossedAt, Level Level)
{
    /// <summary>The p-value over the level's horizon: the chance of evidence this strong at any look, were the cohort within the gate.</summary>
    public double P => Math.Min(1, Level.Horizon * Math.Exp(-MaxLog));

    public bool Crossed => CrossedAt is not null;

    public static Evidence None(Level level) => new(double.NegativeInfinity, null, level);
}

/// <summary>
/// A test's false-alarm level α over a horizon of looks: the evidence must reach <c>horizon / α</c>. One look (totals
/// without a series, a node's own counts) has horizon 1; a bake's evidence, slot by slot, has <see cref="Sequential.Horizon"/>.
/// </summary>
internal readonly record struct Level(double Significance, int Horizon)
{
    public double Threshold => Math.Log(Horizon / Significance);

    public static Level Once(double significance) => new(significance, 1);

    /// <summary>The level for judging <paramref name="traffic"/>: a bake's horizon when it has time slots, one look when it has none.</summary>
    public static Level For(Traffic traffic, double significance) => new(significance, traffic.TimedSlots > 0 ? Sequential.Horizon : 1);
}

/// <summary>
/// Tests that keep their false-alarm rate however often the wave is judged. A wave is judged every tick of its
/// bake; a test at level α looked at 300 times raises false alarms far more often than α. Each test here is a
/// mixture of likelihood ratios run slot by slot as a Shiryaev–Roberts statistic: <c>R_t = LR_t · (1 + R_{t−1})</c>,
/// the sum over every possible start of the regression of the evidence since then, so a regression that begins
/// late in the bake is seen as fast as one that begins with it (a plain running product would first have to pay
/// back the clean slots before it). Were the cohort within its gate, <c>R_t − t</c> would be a martingale, so by
/// Doob's inequality R passes <c>T / α</c> within T slots with probability at most α, however often anyone
/// looks; T is <see cref="Horizon"/> (256 slots: the most a bake's evidence holds), so a check fails when its
/// evidence passes <c>256 / α</c> (ln ≈ 12.5 at α = 0.001). The running maximum is kept, so the verdict does not
/// depend on how often, or when, it was asked for. Totals without a series are one look, held to <c>1 / α</c>.
/// </summary>
/// <remarks>
/// <para>
/// <b>Errors against a known limit</b> (the ceiling, or a ratio of the cohort's own baseline). Were the cohort at
/// the limit, its errors in slot <c>b</c> would be Poisson with mean <c>λ_b = limit × requests_b</c>. Against "m
/// times the limit", a slot multiplies the evidence by <c>m^x_b · e^−(m−1)λ_b</c>; the mixture averages that over
/// m ∈ {1.25, 1.5, 2, 3, 5, 10, 30}, so small excesses with much traffic and large ones with little are both seen.
/// Worked example (one look): ceiling 1%, 3,000 requests, 60 errors (λ = 30): at m = 2 the ratio is
/// <c>2⁶⁰ · e⁻³⁰ ≈ 1.1 × 10⁵</c>, the mixture about 1.7 × 10⁴ &gt; 1,000 → fail at α = 0.001. With 4 errors in 300
/// requests (λ = 3) the mixture is 0.47: nothing. Slot by slot: a cohort at 3% where 1% is allowed, 1,000 requests a
/// slot (λ = 10, 30 errors), adds <c>30 ln 3 − 20 ≈ 13</c> to the log at m = 3 in each slot, past ln(256,000) ≈ 12.5 in
/// the first — after 20 clean slots too, where a plain running product would still be paying them back.
/// </para>
/// <para>
/// <b>Errors against the control</b>. The control's own rate is uncertain too, so the test conditions on each
/// slot's errors on both sides (<c>n_b = x_b + y_b</c>): were the cohort exactly θ₀ times the control, each error
/// would be the cohort's with probability <c>q₀ = θ₀·N_b / (θ₀·N_b + M_b)</c> (N, M the two sides' requests in the
/// slot), a binomial whatever the rate of the moment — an upstream incident that triples errors on both sides
/// leaves q₀ where it was. The slot's ratio against <c>θ₀·m</c> is <c>(q₁/q₀)^x · ((1−q₁)/(1−q₀))^y</c>, mixed
/// over the same m. Because a control with no errors would make the cohort's first error conclusive, the same check
/// must also fail the known-limit test against <c>θ₀ × floor</c> (both at level α, so their intersection is too).
/// Worked example: ratio 2, cohort 140/20,000, control 20/20,000 in one slot: q₀ = 2/3, and at m = 2 (q₁ = 0.8)
/// the ratio is <c>(1.2)^140 · (0.6)^20 ≈ e^15.3</c> → fail.
/// </para>
/// <para>
/// <b>Latency</b>. A p99 is not a count, so each slot gives one number: <c>d_b = ln(cohort p99 / reference p99) −
/// ln(allowed ratio)</c>, above 0 when that slot is over the gate. Treating <c>d_b</c> as noisy with a standard
/// deviation of <see cref="Plans.GateThresholds.LatencyNoise"/> σ (0.15 by default), a slot multiplies the evidence
/// against "excess μ" by <c>exp((μ·d_b − μ²/2) / σ²)</c>, mixed over μ ∈ {0.05, 0.1, 0.2, 0.4, 0.8, 1.6}. Worked
/// example: control 40 ms, cohort 120 ms, allowed 1.5×: d = ln 3 − ln 1.5 = 0.69 per slot; at μ = 0.8 each slot adds
/// (0.8 × 0.69 − 0.32) / 0.0225 = 10.3 to the log, so 2 slots pass ln(256,000 × 6) ≈ 14.2 — fail. At 70 ms
/// (1.75×, d = 0.15) each slot adds about 0.48 and it takes about 30 slots; one slot alone never fails.
/// </para>
/// </remarks>
internal static class Sequential
{
    /// <summary>The looks a bake's evidence is guarded for: its most slots (see the remarks).</summary>
    public const int Horizon = 256;

    /// <summary>The alternatives "m times the limit" the error tests bet on, with equal weight.</summary>
    private static readonly double[] Multiples = [1.25, 1.5, 2, 3, 5, 10, 30];

    /// <summary>The latency excesses (in natural-log units over the allowed ratio) the latency test bets on.</summary>
    private static readonly double[] Excesses = [0.05, 0.1, 0.2, 0.4, 0.8, 1.6];

    /// <summary>The evidence against "errors at most <c>expected</c>" from (slot, errors, expected errors at the limit) in time order.</summary>
    public static Evidence AgainstLimit(IEnumerable<(long Slot, double Errors, double Expected)> slots, Level level)
    {
        var test = new Run(Multiples.Length, level);
        foreach (var (slot, errors, expected) in slots)
        {
            if (expected <= 0 && errors <= 0)
            {
                continue;
            }
            test.Look(slot, j => errors * Math.Log(Multiples[j]) - (Multiples[j] - 1) * expected);
        }
        return test.Evidence;
    }

    /// <summary>
    /// The evidence against "cohort rate at most <paramref name="ratio"/> × control rate" from each slot's
    /// (cohort errors, cohort requests, control errors, control requests), conditioned on the slot's errors.
    /// </summary>
    public static Evidence AgainstControl(IEnumerable<(long Slot, double Errors, double Requests, double ControlErrors, double ControlRequests)> slots,
        double ratio, Level level)
    {
        var test = new Run(Multiples.Length, level);
        foreach (var (slot, x, n, y, m) in slots)
        {
            if (n <= 0 || m <= 0 || x + y <= 0)
            {
                continue;
            }
            var q0 = ratio * n / (ratio * n + m);
            test.Look(slot, j =>
            {
                var q1 = ratio * Multiples[j] * n / (ratio * Multiples[j] * n + m);
                return x * Math.Log(q1 / q0) + y * Math.Log((1 - q1) / (1 - q0));
            });
        }
        return test.Evidence;
    }

    /// <summary>The evidence that each slot's excess <c>d</c> (log latency ratio over the allowed one) is above 0, with noise σ.</summary>
    public static Evidence LatencyExcess(IEnumerable<(long Slot, double Excess)> slots, double sigma, Level level)
    {
        var test = new Run(Excesses.Length, level);
        var variance = sigma * sigma;
        foreach (var (slot, d) in slots)
        {
            if (!double.IsFinite(d))
            {
                continue;
            }
            test.Look(slot, j => (Excesses[j] * d - Excesses[j] * Excesses[j] / 2) / variance);
        }
        return test.Evidence;
    }

    /// <summary>One Shiryaev–Roberts statistic per alternative, in logs, and the running maximum of their mixture.</summary>
    private sealed class Run(int alternatives, Level level)
    {
        private readonly double[] _log = Enumerable.Repeat(double.NegativeInfinity, alternatives).ToArray();

        public Evidence Evidence { get; private set; } = Evidence.None(level);

        /// <summary>One more slot whose log likelihood ratio against alternative j is <paramref name="ratio"/>(j).</summary>
        public void Look(long slot, Func<int, double> ratio)
        {
            for (var j = 0; j < _log.Length; j++)
            {
                _log[j] = ratio(j) + SoftPlus(_log[j]);
            }
            var mixture = Mixture(_log);
            var so = Evidence;
            Evidence = so with { MaxLog = Math.Max(so.MaxLog, mixture), CrossedAt = so.CrossedAt ?? (mixture >= level.Threshold ? slot : null) };
        }

        /// <summary>ln(1 + e^x).</summary>
        private static double SoftPlus(double x) => x > 35 ? x : Math.Log(1 + Math.Exp(x));
    }

    /// <summary>ln(mean of e^log[j]), computed without overflow.</summary>
    private static double Mixture(double[] log)
    {
        var max = log.Max();
        if (double.IsNegativeInfinity(max))
        {
            return max;
        }
        double sum = 0;
        foreach (var l in log)
        {
            sum += Math.Exp(l - max);
        }
        return max + Math.Log(sum / log.Length);
    }
}
