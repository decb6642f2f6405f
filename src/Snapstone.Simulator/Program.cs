return await Snapstone.Simulator.Cli.SimulatorCommands.RunAsync(args);
