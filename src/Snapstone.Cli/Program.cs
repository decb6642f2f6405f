return await Snapstone.Cli.CommandLine.RunAsync(args, Console.Out, Console.Error);
