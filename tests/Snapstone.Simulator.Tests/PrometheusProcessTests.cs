using System.Diagnostics;
using Snapstone.Testing;

namespace Snapstone.Simulator.Tests;

public sealed class PrometheusProcessTests
{
    [Fact]
    public async Task The_configuration_scrapes_each_target_as_its_own_job_every_interval()
    {
        var yaml = PrometheusProcess.Configuration(
        [
            new ScrapeTarget("edge", new Uri("http://127.0.0.1:4101/metrics")),
            new ScrapeTarget("snapstone", new Uri("http://127.0.0.1:4102/metrics"), BearerToken: "it's-secret"),
        ], TimeSpan.FromSeconds(1));

        Assert.Equal("""
            global:
              scrape_interval: 1000ms
              scrape_timeout: 1000ms
              evaluation_interval: 1000ms
            scrape_configs:
              - job_name: 'edge'
                scheme: http
                metrics_path: '/metrics'
                static_configs:
                  - targets: ['127.0.0.1:4101']
              - job_name: 'snapstone'
                scheme: http
                metrics_path: '/metrics'
                authorization:
                  type: Bearer
                  credentials: 'it''s-secret'
                static_configs:
                  - targets: ['127.0.0.1:4102']

            """.ReplaceLineEndings("\n"), yaml.ReplaceLineEndings("\n"));

        // Prometheus' own checker accepts it (the package ships promtool next to prometheus).
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, yaml);
            var start = new ProcessStartInfo(Path.Combine(Path.GetDirectoryName(PrometheusProcess.Executable)!, "promtool"), ["check", "config", file])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var check = Process.Start(start)!;
            var output = await check.StandardOutput.ReadToEndAsync() + await check.StandardError.ReadToEndAsync();
            await check.WaitForExitAsync();
            Assert.True(check.ExitCode == 0, output);
        }
        finally
        {
            File.Delete(file);
        }
        Assert.Throws<ArgumentException>(() => PrometheusProcess.Configuration(
            [new ScrapeTarget("a", new Uri("http://x:1/m")), new ScrapeTarget("a", new Uri("http://y:1/m"))], TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task A_stopped_prometheus_answers_nothing_until_it_is_started_again_on_the_same_address()
    {
        await using var prometheus = await PrometheusProcess.StartAsync([]);
        var address = prometheus.BaseAddress;
        Assert.Equal(42, Assert.Single(await prometheus.QueryAsync("vector(42)")).Value);
        Assert.Equal("127.0.0.1", address.Host);
        Assert.NotEqual(9090, address.Port);

        await prometheus.StopAsync();
        Assert.False(prometheus.IsRunning);
        await Assert.ThrowsAsync<HttpRequestException>(() => prometheus.QueryAsync("vector(42)"));

        await prometheus.StartAgainAsync();
        Assert.Equal(address, prometheus.BaseAddress);
        Assert.Equal(7, Assert.Single(await prometheus.QueryAsync("scalar(vector(7))")).Value);
    }
}
