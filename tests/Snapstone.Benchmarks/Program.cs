return await Snapstone.Benchmarks.BenchmarkRun.MainAsync(args);
