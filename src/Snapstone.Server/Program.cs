using Snapstone.Server.Hosting;

// appsettings.json is read from beside the server's assembly, wherever it is started from.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddServiceDefaults();
using var bootLogging = LoggerFactory.Create(l => l.AddConfiguration(builder.Configuration.GetSection("Logging")).AddConsole());
var (storage, azurite) = await ServerHosting.PrepareStorageAsync(builder, bootLogging.CreateLogger("Snapstone.Boot"));
await using (azurite)
{
    builder.AddSnapstoneServer(storage);
    var app = builder.Build();
    app.MapSnapstone();
    await app.RunAsync();
}

/// <summary>Visible to the test projects, which host the same application.</summary>
public partial class Program;
