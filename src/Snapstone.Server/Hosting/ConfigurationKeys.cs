using System.Collections;
using System.Reflection;

namespace Snapstone.Server.Hosting;

/// <summary>
/// The configuration keys the server reads, from the options classes it binds: a deployment can check that every
/// <c>Snapstone:…</c> key it sets means something (a misspelt key is otherwise silently ignored).
/// Keys are compared as .NET configuration compares them: case-insensitively, with <c>__</c> in environment
/// variables standing for <c>:</c>. A list or dictionary takes any index or name below it.
/// </summary>
public static class ConfigurationKeys
{
    /// <summary>Each section the server binds and the type it binds it to (keep in step with the bindings in <see cref="SiloSetup"/> and <see cref="ServerHosting"/>).</summary>
    public static readonly IReadOnlyList<(string Section, Type Options)> Sections =
    [
        (ServerOptions.Section, typeof(ServerOptions)),
        ("Snapstone:Auth", typeof(Http.AuthOptions)),
        (Http.AlarmOptions.Section, typeof(Http.AlarmOptions)),
        ("Snapstone:Catalog", typeof(Grains.Units.CatalogOptions)),
        ("Snapstone:Rollouts", typeof(Grains.Rollouts.RolloutOptions)),
        ("Snapstone:Incidents", typeof(Grains.Emergency.IncidentOptions)),
        ("Snapstone:Drift", typeof(Grains.Drift.DriftOptions)),
        ("Snapstone:Nodes", typeof(Grains.Nodes.NodeOptions)),
        (Client.ReportOptions.Section, typeof(Client.ReportOptions)),
        (Grains.Notifications.NotificationOptions.Section, typeof(Grains.Notifications.NotificationOptions)),
        (Grains.Emergency.WebhookOptions.Section, typeof(Grains.Emergency.WebhookOptions)),
        (Grains.Telemetry.TelemetryOptions.Section, typeof(Grains.Telemetry.TelemetryOptions)),
        (OperatorConsole.ConsoleOptions.Section, typeof(OperatorConsole.ConsoleOptions)),
    ];

    /// <summary>Whether <paramref name="key"/> (<c>Snapstone:Cluster:Tls:CaPath</c> or <c>Snapstone__Cluster__Tls__CaPath</c>) is read by the server.</summary>
    public static bool IsKnown(string key)
    {
        var path = key.Replace("__", ":", StringComparison.Ordinal).Split(':');
        foreach (var (section, options) in Sections)
        {
            var prefix = section.Split(':');
            if (path.Length > prefix.Length && path.Take(prefix.Length).SequenceEqual(prefix, StringComparer.OrdinalIgnoreCase)
                && Resolves(options, path.AsSpan(prefix.Length)))
            {
                return true;
            }
        }
        return false;
    }

    private static bool Resolves(Type type, ReadOnlySpan<string> path)
    {
        if (path.IsEmpty)
        {
            return IsLeaf(type);
        }
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (Element(type) is { } element)
        {
            // A list index or dictionary key, then the element's own path.
            return Resolves(element, path[1..]);
        }
        var property = type.GetProperty(path[0], BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
        return property is { CanWrite: true } or { PropertyType.IsClass: true, CanRead: true } && Resolves(property.PropertyType, path[1..]);
    }

    private static bool IsLeaf(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan)
            || type == typeof(Uri) || type == typeof(DateTimeOffset) || type == typeof(DateTime) || type == typeof(Guid);
    }

    private static Type? Element(Type type)
    {
        if (type == typeof(string))
        {
            return null;
        }
        if (type.IsArray)
        {
            return type.GetElementType();
        }
        var dictionary = type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>));
        if (dictionary is not null)
        {
            return dictionary.GetGenericArguments()[1];
        }
        var list = type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>));
        return list is not null && typeof(IEnumerable).IsAssignableFrom(type) ? list.GetGenericArguments()[0] : null;
    }
}
