using OrderFlow.Patterns;

namespace Patterns.Tests.Harness;

/// <summary>Starting instances of the patterns app with short timings, so tests run in seconds.</summary>
public static class PatternsApps
{
    public const string AppId = "patterns";

    public static Task<Member> StartPatternsAsync(this Cluster cluster, string instanceId, params string[] args) =>
        cluster.StartAsync(AppId, PatternsApp.Build,
        [
            $"--Patterns:InstanceId={instanceId}",
            "--Patterns:JobStepTime=00:00:00.100",
            "--Patterns:WorkItemProcessingTime=00:00:00.020",
            "--Patterns:Prices:apple=1.25",
            "--Patterns:Prices:pear=0.80",
            "--Patterns:Prices:plum=2.10",
            .. args,
        ]);
}
