using System.Net;
using System.Net.Http.Json;
using OrderFlow.Patterns.Jobs;
using Patterns.Tests.Harness;

namespace Patterns.Tests;

/// <summary>Pattern 1: RPC + callback.</summary>
public sealed class CallbackTests
{
    [Fact]
    public async Task Callee_answers_at_once_and_invokes_the_named_callback_later_through_the_sidecar()
    {
        await using var cluster = new Cluster("local");
        var caller = await cluster.StartPatternsAsync("a");

        var accepted = await caller.Invoke.PostAsJsonAsync("callback/jobs",
            new { name = "invoice", steps = 3, callbackAppId = "patterns", callbackMethod = "callback/inbox" });

        accepted.StatusCode.Should().Be(HttpStatusCode.Accepted);
        var jobId = (await accepted.Content.ReadFromJsonAsync<JobsApi.JobAccepted>())!.JobId;
        (await caller.Invoke.GetAsync($"callback/inbox/{jobId}")).StatusCode.Should().Be(HttpStatusCode.NotFound,
            "the answer came before the work was done");

        var received = await Wait.ForAsync(() => caller.Invoke.GetAsync($"callback/inbox/{jobId}"),
            r => r.IsSuccessStatusCode, "the callback", Wait.EndToEndTimeout);
        var result = (await received.Content.ReadFromJsonAsync<ReceivedResult>())!;
        result.Job.Should().BeEquivalentTo(new { JobId = jobId, Result = "invoice: 3 step(s) done", FinishedBy = "a" });
        result.Deliveries.Should().Be(1);
    }
}
