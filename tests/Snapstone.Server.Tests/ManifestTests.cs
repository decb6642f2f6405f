using Snapstone.Server.Hosting;
using YamlDotNet.RepresentationModel;

namespace Snapstone.Server.Tests;

/// <summary>
/// The deploy manifests say only what the server understands: every Snapstone key they set is one the server
/// reads, every probe path is one it answers, and the pieces fit together (labels, ports, Secrets, mounts, the
/// shutdown budget against the termination grace period).
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ManifestTests(ServerFixture fixture)
{
    private static readonly string Deploy = Path.Combine(Repository.Root, "deploy");

    [Theory]
    [InlineData("Snapstone__Cluster__Tls__CaPath", true)]
    [InlineData("Snapstone:Cluster:Membership:ProbeTimeout", true)]
    [InlineData("snapstone__storage__serviceuri", true)]
    [InlineData("Snapstone__Auth__Tokens__3__Scopes__0", true)]
    [InlineData("Snapstone__Rollouts__TickMilliseconds", true)]
    [InlineData("Snapstone__Client__Tls__CertificatePath", false)]
    [InlineData("Snapstone__Cluster__Tls__CaPth", false)]
    [InlineData("Snapstone__Cluster__Tls", false)]
    [InlineData("Snapstone__Cluster__Tls__Enabled", false)]
    [InlineData("Snapstone__Shutdown__HostTimeout", false)]
    [InlineData("Snapstone__Storage", false)]
    [InlineData("Snapstone__Nonsense", false)]
    public void A_key_is_known_only_when_an_options_class_the_server_binds_has_it(string key, bool known) =>
        Assert.Equal(known, ConfigurationKeys.IsKnown(key));

    [Fact]
    public void Every_snapstone_key_the_manifests_and_templates_set_is_one_the_server_reads()
    {
        var keys = Manifests().SelectMany(d => SetKeys(d.RootNode)).Select(k => (File: "kubernetes", Key: k))
            .Concat(EnvironmentFile(Path.Combine(Deploy, "snapstone.env.example")).Select(k => (File: "snapstone.env.example", Key: k)))
            .Concat(DockerfileEnv(Path.Combine(Deploy, "Dockerfile")).Select(k => (File: "Dockerfile", Key: k)))
            .Where(k => k.Key.StartsWith("Snapstone__", StringComparison.Ordinal) || k.Key.StartsWith("Snapstone:", StringComparison.Ordinal))
            .ToList();
        Assert.True(keys.Count > 20, $"found only {keys.Count} Snapstone keys in deploy/");
        var unknown = keys.Where(k => !ConfigurationKeys.IsKnown(k.Key)).Select(k => $"{k.File}: {k.Key}").ToList();
        Assert.True(unknown.Count == 0, "keys the server does not read: " + string.Join(", ", unknown));
    }

    [Fact]
    public async Task Every_probe_path_is_one_the_server_answers_on_a_named_container_port()
    {
        var deployment = Single("Deployment");
        var container = (YamlMappingNode)Seq(deployment, "spec", "template", "spec", "containers").Single();
        var ports = Seq(container, "ports").Cast<YamlMappingNode>().Select(p => Scalar(p, "name")).ToHashSet();
        using var anonymous = fixture.Server.Client(null);
        foreach (var probe in new[] { "startupProbe", "readinessProbe", "livenessProbe" })
        {
            var path = Scalar(container, probe, "httpGet", "path");
            Assert.Contains(path, ServiceDefaults.ProbePaths);
            Assert.Contains(Scalar(container, probe, "httpGet", "port"), ports);
            var (status, _) = await anonymous.Get(path);
            Assert.True(status == 200, $"{probe} {path} answered {status}");
        }
    }

    [Fact]
    public void The_pieces_fit_labels_secrets_mounts_rbac_and_the_shutdown_budget()
    {
        var config = Data(Single("ConfigMap"));
        var deployment = Single("Deployment");
        var pod = Map(deployment, "spec", "template");
        var labels = Map(pod, "metadata", "labels");

        // Orleans' Kubernetes hosting finds its silos by these labels; they must name the configured ids.
        Assert.Equal("true", config["Snapstone__Cluster__Kubernetes"]);
        Assert.Equal(config["Snapstone__Cluster__ServiceId"], Scalar(labels, "orleans/serviceId"));
        Assert.Equal(config["Snapstone__Cluster__ClusterId"], Scalar(labels, "orleans/clusterId"));

        // The pod may outlive the server's own shutdown: drain, grace, and its 5 s margin.
        var shutdown = new ShutdownOptions
        {
            DrainSeconds = double.Parse(config["Snapstone__Shutdown__DrainSeconds"], System.Globalization.CultureInfo.InvariantCulture),
            GraceSeconds = double.Parse(config["Snapstone__Shutdown__GraceSeconds"], System.Globalization.CultureInfo.InvariantCulture),
        };
        var terminationGrace = int.Parse(Scalar(pod, "spec", "terminationGracePeriodSeconds"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(terminationGrace > shutdown.HostTimeout.TotalSeconds, $"terminationGracePeriodSeconds {terminationGrace} must exceed {shutdown.HostTimeout.TotalSeconds} s");

        // Configuration from the ConfigMap, tokens from a Secret, TLS material from a mounted Secret.
        var container = (YamlMappingNode)Seq(pod, "spec", "containers").Single();
        var envFrom = Seq(container, "envFrom").Cast<YamlMappingNode>().ToList();
        Assert.Equal(Scalar(Single("ConfigMap"), "metadata", "name"), envFrom.Select(e => TryScalar(e, "configMapRef", "name")).Single(n => n is not null));
        var secrets = Documents("secrets.example.yaml").Where(d => Scalar(d, "kind") == "Secret").ToDictionary(d => Scalar(d, "metadata", "name"));
        var tokenSecret = envFrom.Select(e => TryScalar(e, "secretRef", "name")).Single(n => n is not null)!;
        Assert.Contains(tokenSecret, secrets.Keys);
        Assert.All(Data(secrets[tokenSecret]).Keys, k => Assert.StartsWith("Snapstone__Auth__Tokens__", k));
        Assert.DoesNotContain(config.Keys, k => k.StartsWith("Snapstone__Auth__", StringComparison.Ordinal));

        var volumes = Seq(pod, "spec", "volumes").Cast<YamlMappingNode>().ToDictionary(v => Scalar(v, "name"));
        var mounts = Seq(container, "volumeMounts").Cast<YamlMappingNode>().ToDictionary(m => Scalar(m, "mountPath"), m => Scalar(m, "name"));
        foreach (var key in new[] { "Snapstone__Cluster__Tls__CertificatePath", "Snapstone__Cluster__Tls__KeyPath", "Snapstone__Cluster__Tls__CaPath" })
        {
            var file = config[key];
            var mount = mounts.Single(m => file.StartsWith(m.Key + "/", StringComparison.Ordinal));
            var secretName = Scalar(volumes[mount.Value], "secret", "secretName");
            Assert.Contains(Path.GetFileName(file), Data(secrets[secretName]).Keys);
        }

        // The pod's service account may watch and label pods, as Orleans' Kubernetes hosting needs.
        var account = Scalar(pod, "spec", "serviceAccountName");
        var rbac = Documents("rbac.yaml").ToList();
        var binding = rbac.Single(d => Scalar(d, "kind") == "RoleBinding");
        Assert.Equal(account, Scalar((YamlMappingNode)Seq(binding, "subjects").Single(), "name"));
        var role = rbac.Single(d => Scalar(d, "kind") == "Role" && Scalar(d, "metadata", "name") == Scalar(binding, "roleRef", "name"));
        var rule = (YamlMappingNode)Seq(role, "rules").Single();
        Assert.Equal(["pods"], Seq(rule, "resources").Select(n => ((YamlScalarNode)n).Value));
        Assert.Superset(new HashSet<string?> { "get", "watch", "list", "patch" }, Seq(rule, "verbs").Select(n => ((YamlScalarNode)n).Value).ToHashSet());

        // The disruption budget, the Service and the network policy select the silo pods.
        var app = Scalar(labels, "app.kubernetes.io/name");
        Assert.Equal(app, Scalar(Single("PodDisruptionBudget"), "spec", "selector", "matchLabels", "app.kubernetes.io/name"));
        Assert.Equal(app, Scalar(Single("Service"), "spec", "selector", "app.kubernetes.io/name"));
        Assert.Equal(app, Scalar(Single("NetworkPolicy"), "spec", "podSelector", "matchLabels", "app.kubernetes.io/name"));
        var ports = Seq(container, "ports").Cast<YamlMappingNode>().Select(p => Scalar(p, "name")).ToHashSet();
        Assert.Contains(Scalar((YamlMappingNode)Seq(Single("Service"), "spec", "ports").Single(), "targetPort"), ports);

        // One silo at a time: a new one ready before an old one goes.
        Assert.Equal("0", Scalar(deployment, "spec", "strategy", "rollingUpdate", "maxUnavailable"));
        Assert.Equal("1", Scalar(Single("PodDisruptionBudget"), "spec", "maxUnavailable"));
    }

    [Fact]
    public void The_dockerfile_runs_the_server_on_the_official_aspnet_runtime_image_as_a_non_root_user()
    {
        var lines = File.ReadAllLines(Path.Combine(Deploy, "Dockerfile")).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        var stages = lines.Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)).ToList();
        Assert.Equal("FROM mcr.microsoft.com/dotnet/aspnet:10.0", stages[^1]);
        Assert.Contains("RUN dotnet publish src/Snapstone.Server/Snapstone.Server.csproj -c Release -o /app --no-self-contained", lines);
        Assert.Contains("USER $APP_UID", lines);
        Assert.Equal("ENTRYPOINT [\"dotnet\", \"Snapstone.Server.dll\"]", lines[^1]);
        Assert.True(File.Exists(Path.Combine(Repository.Root, "src", "Snapstone.Server", "Snapstone.Server.csproj")));
        foreach (var copied in lines.Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from", StringComparison.Ordinal)))
        {
            foreach (var source in copied.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..^1])
            {
                Assert.True(File.Exists(Path.Combine(Repository.Root, source)) || Directory.Exists(Path.Combine(Repository.Root, source)), $"the Dockerfile copies {source}, which the repository does not have");
            }
        }
    }

    private static IEnumerable<YamlDocument> Documents(string file)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(Path.Combine(Deploy, "kubernetes", file));
        stream.Load(reader);
        return stream.Documents;
    }

    /// <summary>Every manifest; the <c>*.example.yaml</c> ones (Secrets, cert-manager) only with <paramref name="examples"/>.</summary>
    private static IEnumerable<YamlDocument> Manifests(bool examples = true) =>
        Directory.EnumerateFiles(Path.Combine(Deploy, "kubernetes"), "*.yaml")
            .Where(f => examples || !f.EndsWith(".example.yaml", StringComparison.Ordinal))
            .SelectMany(f => Documents(Path.GetFileName(f)));

    private static YamlMappingNode Single(string kind) =>
        (YamlMappingNode)Manifests(examples: false).Where(d => d.RootNode is YamlMappingNode m && TryScalar(m, "kind") == kind).Single().RootNode;

    private static string Scalar(YamlDocument document, params string[] path) => Scalar((YamlMappingNode)document.RootNode, path);

    private static string Scalar(YamlMappingNode node, params string[] path) =>
        TryScalar(node, path) ?? throw new InvalidOperationException($"no scalar at {string.Join(".", path)}");

    private static string? TryScalar(YamlMappingNode node, params string[] path)
    {
        YamlNode at = node;
        foreach (var step in path)
        {
            if (at is not YamlMappingNode map || !map.Children.TryGetValue(new YamlScalarNode(step), out var next))
            {
                return null;
            }
            at = next;
        }
        return (at as YamlScalarNode)?.Value;
    }

    private static YamlMappingNode Map(YamlMappingNode node, params string[] path)
    {
        YamlNode at = node;
        foreach (var step in path)
        {
            at = ((YamlMappingNode)at).Children[new YamlScalarNode(step)];
        }
        return (YamlMappingNode)at;
    }

    private static YamlSequenceNode Seq(YamlDocument document, params string[] path) => Seq((YamlMappingNode)document.RootNode, path);

    private static YamlSequenceNode Seq(YamlMappingNode node, params string[] path) =>
        (YamlSequenceNode)Map(node, path[..^1]).Children[new YamlScalarNode(path[^1])];

    /// <summary>A ConfigMap's or Secret's <c>data</c> and <c>stringData</c>.</summary>
    private static Dictionary<string, string> Data(YamlDocument document) => Data((YamlMappingNode)document.RootNode);

    private static Dictionary<string, string> Data(YamlMappingNode node) =>
        new[] { "data", "stringData" }
            .Where(k => node.Children.ContainsKey(new YamlScalarNode(k)))
            .SelectMany(k => ((YamlMappingNode)node.Children[new YamlScalarNode(k)]).Children)
            .ToDictionary(p => ((YamlScalarNode)p.Key).Value!, p => ((YamlScalarNode)p.Value).Value ?? "");

    /// <summary>Configuration keys a manifest sets: ConfigMap and Secret entries, and container environment variables.</summary>
    private static IEnumerable<string> SetKeys(YamlNode root)
    {
        if (root is not YamlMappingNode document)
        {
            yield break;
        }
        if (TryScalar(document, "kind") is "ConfigMap" or "Secret")
        {
            foreach (var key in Data(document).Keys)
            {
                yield return key;
            }
        }
        foreach (var env in Descendants(document).OfType<YamlMappingNode>()
                     .Where(m => m.Children.TryGetValue(new YamlScalarNode("env"), out var e) && e is YamlSequenceNode)
                     .SelectMany(m => (YamlSequenceNode)m.Children[new YamlScalarNode("env")]).Cast<YamlMappingNode>())
        {
            yield return Scalar(env, "name");
        }
    }

    private static IEnumerable<YamlNode> Descendants(YamlNode node)
    {
        yield return node;
        var children = node switch
        {
            YamlMappingNode map => map.Children.Values,
            YamlSequenceNode seq => seq.Children,
            _ => [],
        };
        foreach (var child in children.SelectMany(Descendants))
        {
            yield return child;
        }
    }

    private static IEnumerable<string> EnvironmentFile(string path) =>
        File.ReadLines(path).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#') && l.Contains('=')).Select(l => l[..l.IndexOf('=')]);

    /// <summary>Keys of <c>ENV</c> instructions, continued lines included.</summary>
    private static IEnumerable<string> DockerfileEnv(string path)
    {
        var inEnv = false;
        foreach (var raw in File.ReadLines(path))
        {
            var line = raw.Trim();
            if (line.StartsWith("ENV ", StringComparison.Ordinal))
            {
                inEnv = true;
                line = line[4..];
            }
            else if (!inEnv)
            {
                continue;
            }
            inEnv = line.EndsWith('\\');
            var assignment = line.TrimEnd('\\').Trim();
            if (assignment.Contains('='))
            {
                yield return assignment[..assignment.IndexOf('=')];
            }
        }
    }
}

/// <summary>The repository's root, found from the test assembly's folder.</summary>
public static class Repository
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var at = new DirectoryInfo(AppContext.BaseDirectory); at is not null; at = at.Parent)
        {
            if (File.Exists(Path.Combine(at.FullName, "Snapstone.sln")))
            {
                return at.FullName;
            }
        }
        throw new InvalidOperationException($"no Snapstone.sln above {AppContext.BaseDirectory}");
    }
}
