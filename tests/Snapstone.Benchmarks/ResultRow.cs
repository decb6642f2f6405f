using System.Globalization;
using System.Text;

namespace Snapstone.Benchmarks;

/// <summary>
/// One line of the results table. <see cref="Value"/> is the headline number in <see cref="Result"/>,
/// kept as a number so that rows can be compared (ingest against raw); null for a pending row.
/// <see cref="Cores"/> is how many cores the measured process kept busy meanwhile, and <see cref="Best"/>
/// the best one-second stretch of a rate, where those matter.
/// </summary>
public sealed record ResultRow(
    string Id, string Measurement, string Result, string Detail, double? Value = null, double? Cores = null, double? Best = null)
{
    public static ResultRow Pending(string id, string measurement, string why) => new(id, measurement, "pending", why);

    /// <summary>The rows as a Markdown table, pipes in cells escaped.</summary>
    public static string Table(IEnumerable<ResultRow> rows)
    {
        var table = new StringBuilder();
        table.AppendLine("| | measurement | result | detail |");
        table.AppendLine("| --- | --- | --- | --- |");
        foreach (var row in rows)
        {
            table.AppendLine($"| {Cell(row.Id)} | {Cell(row.Measurement)} | {Cell(row.Result)} | {Cell(row.Detail)} |");
        }
        return table.ToString();
    }

    /// <summary>Each run's (size's, silo count's) headline results in a column of its own, row by row (every size runs the same measurements in the same order).</summary>
    public static string SideBySide(IReadOnlyList<(string Label, List<ResultRow> Rows)> sizes)
    {
        var table = new StringBuilder();
        table.AppendLine($"| | measurement | {string.Join(" | ", sizes.Select(s => s.Label))} |");
        table.AppendLine($"| --- | --- |{string.Concat(sizes.Select(_ => " --- |"))}");
        var first = sizes[0].Rows;
        for (var i = 0; i < first.Count; i++)
        {
            var at = i;
            table.AppendLine($"| {Cell(first[i].Id)} | {Cell(first[i].Measurement)} | {string.Join(" | ", sizes.Select(s => at < s.Rows.Count ? Cell(s.Rows[at].Result) : ""))} |");
        }
        return table.ToString();
    }

    /// <summary>A number with thousands separators and at most <paramref name="decimals"/> decimals: 12345.6 → "12,345.6".</summary>
    public static string Number(double value, int decimals = 0) =>
        value.ToString("N" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
