namespace Snapstone.Grains.Notifications;

/// <summary>Host settings for notifications (section <c>Snapstone:Notifications</c>).</summary>
public sealed class NotificationOptions
{
    public const string Section = "Snapstone:Notifications";

    /// <summary>
    /// The address people open Snapstone at (<c>https://snapstone.example</c>); messages link to
    /// <c>{PublicUrl}/console/rollouts/{id}</c> and <c>{PublicUrl}/console/incidents/{id}</c>. Empty: no links.
    /// </summary>
    public string? PublicUrl { get; set; }

    /// <summary>Lets notifications be defined with plain-http URLs (a lab receiver); off, every URL must be https.</summary>
    public bool AllowHttp { get; set; }
}
