namespace DevCli;

/// <summary>How the runner treats every app of a run.</summary>
public sealed record RunnerSettings
{
    /// <summary>How long one app may take to accept connections on its port; generous because `dotnet run` builds first.</summary>
    public TimeSpan StartupTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>How long an app has between SIGTERM and SIGKILL, as in the Dapr CLI.</summary>
    public TimeSpan AppStopGracePeriod { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The run file, for the runTemplatePath / runTemplateName metadata; null for a single `run --app-id`.</summary>
    public RunFile? Template { get; init; }
}
