namespace OrderFlow.ServiceDefaults;

/// <summary>Shutdown settings, bound from the "Shutdown" configuration section.</summary>
public sealed class ShutdownOptions
{
    /// <summary>
    /// How long in-flight streams and jobs may take to finish after SIGTERM before they must hand their work back.
    /// The default stays under the 5 s the Dapr CLI (and the dev sidecar's runner) waits before SIGKILL.
    /// </summary>
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromSeconds(4);
}
