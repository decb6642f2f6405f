using System.CommandLine;
using Spectre.Console;

namespace Snapstone.Cli.Commands;

/// <summary><c>snapstone audit verify</c>: <c>GET /v1/audit/verify</c> recomputes the hash chain; a broken link exits 4.</summary>
public static class AuditCommands
{
    public static Command Build(CommandContext c)
    {
        var verify = new Command("verify", "recompute the audit log's hash chain and name the first broken link (exit 4)");
        c.Run(verify, async (s, p, ct) =>
        {
            var verdict = await s.Gateway.GetAsync("/v1/audit/verify", ct);
            var valid = verdict.Bool("valid");
            return s.Emit(verdict, o => o.WriteLine(valid
                ? $"audit chain verified: {verdict.Long("entries")} entries, every link holds"
                : $"audit chain BROKEN at entry {verdict["firstBroken"].Long("seq")}: {verdict["firstBroken"].Str("reason")}"),
                valid ? ExitCodes.Ok : ExitCodes.CheckFailed);
        });
        return new Command("audit", "the hash-chained log of every write") { verify };
    }
}
