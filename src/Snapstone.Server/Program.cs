using Snapstone.Server.Hosting;

var builder = WebApplication.CreateBuilder(args);
using var bootLogging = LoggerFactory.Create(l => l.AddConsole());
var (connectionString, azurite) = await ServerHosting.PrepareStorageAsync(builder, bootLogging.CreateLogger("Snapstone.Boot"));
await using (azurite)
{
    builder.AddSnapstoneServer(connectionString);
    var app = builder.Build();
    app.MapSnapstone();
    await app.RunAsync();
}

/// <summary>Visible to the test projects, which host the same application.</summary>
public partial class Program;
