return await Snapstone.Cli.CommandLine.RunAsync(args, Snapstone.Cli.Terminal.System());
