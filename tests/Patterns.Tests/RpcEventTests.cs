using System.Net;
using System.Net.Http.Json;
using OrderFlow.Patterns.Jobs;
using Patterns.Tests.Harness;

namespace Patterns.Tests;

/// <summary>Pattern 5: RPC + event.</summary>
public sealed class RpcEventTests
{
    [Fact]
    public async Task The_call_returns_202_at_once_and_the_result_arrives_as_an_event_any_instance_may_consume()
    {
        await using var cluster = new Cluster("local");
        await ResultsArriveAsEventsAsync(cluster);
    }

    /// <summary>Also run on every real broker (PubSubPatternsOnBrokers).</summary>
    internal static async Task ResultsArriveAsEventsAsync(Cluster cluster)
    {
        var a = await cluster.StartPatternsAsync("a");
        await cluster.StartPatternsAsync("b");

        var jobIds = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            var accepted = await a.Invoke.PostAsJsonAsync("jobs", new { name = $"report-{i}", steps = 2 });
            accepted.StatusCode.Should().Be(HttpStatusCode.Accepted);
            accepted.Headers.Location!.ToString().Should().StartWith("/jobs/");
            var jobId = (await accepted.Content.ReadFromJsonAsync<JobsApi.JobAccepted>())!.JobId;
            var atOnce = (await a.Invoke.GetFromJsonAsync<JobsApi.JobView>($"jobs/{jobId}"))!;
            atOnce.Result.Should().BeNull("the result comes later, as an event");
            jobIds.Add(jobId);
        }

        var views = new List<JobsApi.JobView>();
        foreach (var jobId in jobIds)
        {
            var view = await Wait.ForAsync(() => a.Invoke.GetFromJsonAsync<JobsApi.JobView>($"jobs/{jobId}"),
                v => v?.Result is not null && v.Job.Status == JobStatus.Replied, $"the result of job {jobId}", Wait.EndToEndTimeout);
            views.Add(view!);
        }

        views.Should().AllSatisfy(v =>
        {
            v.Job.Status.Should().Be(JobStatus.Replied);
            v.Result!.Deliveries.Should().Be(1);
            v.Result.Job.FinishedBy.Should().Be("a");
        });
        views.Select(v => v.Result!.ReceivedBy).Distinct().Should().BeEquivalentTo(["a", "b"],
            "the job-finished subscription is a queue group: the caller's instances share the results");
    }
}
