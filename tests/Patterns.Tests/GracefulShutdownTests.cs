using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OrderFlow.Patterns.Jobs;
using Patterns.Tests.Harness;

namespace Patterns.Tests;

/// <summary>
/// The essay's wait group: apps run as real processes and get a real SIGTERM. In-flight streams and jobs finish within
/// the grace period; work that cannot is handed back and finished after the restart; nothing is lost or done twice.
/// </summary>
public sealed class GracefulShutdownTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Sigterm_during_a_stream_the_client_still_receives_the_complete_stream_and_new_requests_get_503()
    {
        await using var cluster = new Cluster("local", "choreography");
        var (orders, inventory) = await cluster.StartOrderFlowAsync(dispatchDelay: TimeSpan.FromSeconds(2), ordersAsChildProcess: true);
        var orderId = await PatternsApps.PlaceCompletingOrderAsync(orders, inventory);

        var lines = new List<ReceivedLine>();
        HttpStatusCode? duringShutdown = null;
        await foreach (var line in NdjsonReader.ReadLinesAsync(orders.Invoke, $"orders/{orderId}/progress"))
        {
            lines.Add(line);
            if (lines.Count != 1) continue;
            orders.Child!.SendSigterm();
            // A new request while the stream drains: refused, not queued behind it.
            duringShutdown = await Wait.ForAsync(async () => (await orders.Invoke.GetAsync($"orders/{orderId}")).StatusCode,
                status => status == HttpStatusCode.ServiceUnavailable, "new requests to be refused", Wait.EndToEndTimeout);
        }

        lines.Select(l => l.Type).Should().StartWith("accepted").And.EndWith(["result", "end"], orders.Child!.Output);
        lines[^2].Message.GetProperty("status").GetString().Should().Be("Completed");
        lines[^1].Message.GetProperty("complete").GetBoolean().Should().BeTrue();
        duringShutdown.Should().Be(HttpStatusCode.ServiceUnavailable);
        (await orders.Child.WaitForExitAsync(ExitTimeout)).Should().Be(0);
    }

    [Fact]
    public async Task A_stream_that_outlives_the_grace_period_ends_with_an_incomplete_end_line_not_a_cut()
    {
        await using var cluster = new Cluster("local", "choreography");
        var (orders, inventory) = await cluster.StartOrderFlowAsync(dispatchDelay: TimeSpan.FromSeconds(20), ordersAsChildProcess: true,
            ordersGracePeriod: "00:00:00.300");
        var orderId = await PatternsApps.PlaceCompletingOrderAsync(orders, inventory);

        var lines = new List<ReceivedLine>();
        await foreach (var line in NdjsonReader.ReadLinesAsync(orders.Invoke, $"orders/{orderId}/progress"))
        {
            lines.Add(line);
            if (lines.Count == 1) orders.Child!.SendSigterm();
        }

        lines.Select(l => l.Type).Should().NotContain("result");
        lines[^1].Type.Should().Be("end", orders.Child!.Output);
        lines[^1].Message.GetProperty("complete").GetBoolean().Should().BeFalse();
        lines[^1].Message.GetProperty("reason").GetString().Should().Contain("shutting down");
        (await orders.Child.WaitForExitAsync(ExitTimeout)).Should().Be(0);
    }

    [Fact]
    public async Task A_stream_cut_by_a_killed_server_has_no_end_line()
    {
        await using var cluster = new Cluster("local", "choreography");
        var (orders, inventory) = await cluster.StartOrderFlowAsync(dispatchDelay: TimeSpan.FromSeconds(20), ordersAsChildProcess: true);
        var orderId = await PatternsApps.PlaceCompletingOrderAsync(orders, inventory);

        var lines = new List<ReceivedLine>();
        var read = async () =>
        {
            await foreach (var line in NdjsonReader.ReadLinesAsync(orders.Invoke, $"orders/{orderId}/progress"))
            {
                lines.Add(line);
                if (lines.Count == 1) orders.Child!.Kill();
            }
        };

        // Either an error or a plain end of body, depending on where the cut is noticed; never an end line.
        try
        {
            await read();
        }
        catch (Exception e) when (e is HttpRequestException or IOException) { }
        lines.Should().NotBeEmpty();
        lines.Select(l => l.Type).Should().NotContain("end", "the client can tell this cut from a completed stream");
    }

    [Fact]
    public async Task Sigterm_during_a_slow_job_lets_it_finish_within_the_grace_period()
    {
        await using var cluster = new Cluster("local");
        var patterns = await StartPatternsChildAsync(cluster, gracePeriod: "00:00:15");
        var jobId = await StartJobAsync(patterns, steps: 6);
        await WaitForStepAsync(patterns, jobId, 1);

        patterns.Child!.SendSigterm();
        (await patterns.Child.WaitForExitAsync(ExitTimeout)).Should().Be(0, patterns.Child.Output);

        var job = await StoredJobAsync(patterns, jobId);
        job.Attempts.Should().Be(1, "the job finished before the process exited");
        job.StepsDone.Select(s => s.Step).Should().Equal(1, 2, 3, 4, 5, 6);
        job.Status.Should().Be(JobStatus.Replied);

        await cluster.RestartChildAsync(patterns);
        var view = await WaitForResultAsync(patterns, jobId);
        view.Result!.Deliveries.Should().Be(1, "the job-finished event was consumed once");
    }

    [Fact]
    public async Task Sigterm_during_a_slow_job_longer_than_the_grace_period_hands_it_back_and_the_restart_finishes_it_once()
    {
        await using var cluster = new Cluster("local");
        var patterns = await StartPatternsChildAsync(cluster, gracePeriod: "00:00:00.500");
        var jobId = await StartJobAsync(patterns, steps: 10);
        await WaitForStepAsync(patterns, jobId, 1);

        patterns.Child!.SendSigterm();
        (await patterns.Child.WaitForExitAsync(ExitTimeout)).Should().Be(0, patterns.Child.Output);
        var handedBack = await StoredJobAsync(patterns, jobId);
        handedBack.Status.Should().Be(JobStatus.Running);
        handedBack.StepsDone.Count.Should().BeInRange(1, 9, "the grace period ended mid-job");

        await cluster.RestartChildAsync(patterns);
        var view = await WaitForResultAsync(patterns, jobId);

        view.Job.Attempts.Should().Be(2);
        view.Job.StepsDone.Select(s => s.Step).Should().Equal(Enumerable.Range(1, 10), "each step ran exactly once across the restart");
        view.Job.StepsDone.Should().Contain(s => s.Attempt == 2);
        view.Result!.Deliveries.Should().Be(1);
    }

    [Fact]
    public async Task Stopped_as_dapr_run_f_stops_it_sidecar_killed_first_a_slow_job_is_handed_back_and_the_next_start_finishes_it_once()
    {
        // Dapr CLI v1.17.1 cmd/run.go stopDaprdAndAppProcesses: daprd is SIGKILLed, then the app gets SIGTERM. The job
        // cannot save its next step or send its result through a dead sidecar: it must stay unfinished, not be lost.
        await using var cluster = new Cluster("local");
        var patterns = await StartPatternsChildAsync(cluster, gracePeriod: "00:00:04");
        var jobId = await StartJobAsync(patterns, steps: 6);
        await WaitForStepAsync(patterns, jobId, 1);

        await patterns.Sidecar.KillAsync();
        patterns.Child!.SendSigterm();
        (await patterns.Child.WaitForExitAsync(ExitTimeout)).Should().Be(0, patterns.Child.Output);

        var next = await StartPatternsChildAsync(cluster, gracePeriod: "00:00:04");
        var view = await WaitForResultAsync(next, jobId);
        view.Job.StepsDone.Select(s => s.Step).Should().Equal(Enumerable.Range(1, 6), "each step recorded exactly once across the restart");
        view.Job.Attempts.Should().Be(2);
        view.Result!.Deliveries.Should().Be(1);
    }

    private static Task<Member> StartPatternsChildAsync(Cluster cluster, string gracePeriod) =>
        cluster.StartChildAsync(PatternsApps.AppId, PatternsApps.Patterns.BuiltDll, new Dictionary<string, string>
        {
            ["Patterns__InstanceId"] = "child",
            ["Patterns__JobStepTime"] = "00:00:00.300",
            ["Shutdown__GracePeriod"] = gracePeriod,
        });

    private static async Task<string> StartJobAsync(Member patterns, int steps)
    {
        var accepted = await patterns.Invoke.PostAsJsonAsync("jobs", new { name = "report", steps });
        accepted.StatusCode.Should().Be(HttpStatusCode.Accepted);
        return (await accepted.Content.ReadFromJsonAsync<JobsApi.JobAccepted>())!.JobId;
    }

    private static Task WaitForStepAsync(Member patterns, string jobId, int step) =>
        Wait.ForAsync(() => patterns.Invoke.GetFromJsonAsync<JobsApi.JobView>($"jobs/{jobId}")!,
            v => v!.Job.StepsDone.Count >= step, $"job {jobId} to reach step {step}", Wait.EndToEndTimeout);

    private static Task<JobsApi.JobView> WaitForResultAsync(Member patterns, string jobId) =>
        Wait.ForAsync(() => patterns.Invoke.GetFromJsonAsync<JobsApi.JobView>($"jobs/{jobId}")!,
            v => v!.Result is not null, $"the result of job {jobId}", Wait.EndToEndTimeout)!;

    /// <summary>Read through the sidecar's state API: the app process may be gone.</summary>
    private static async Task<SlowJob> StoredJobAsync(Member patterns, string jobId) =>
        (await patterns.SidecarApi.GetFromJsonAsync<SlowJob>($"v1.0/state/statestore/job-{jobId}", new JsonSerializerOptions(JsonSerializerDefaults.Web)))!;
}
