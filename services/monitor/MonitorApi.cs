using System.Net.ServerSentEvents;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Monitor;

public static class MonitorApi
{
    /// <summary>A flow as the API shows it; <see cref="Timeline"/> lists the steps in flow order (each step's time is
    /// when its event arrived, which may be out of that order).</summary>
    public sealed record FlowView(string OrderId, FlowStatus Status, string LastStep, IReadOnlyList<string> Expected, DateTimeOffset DueAt,
        DateTimeOffset? StalledAt, int Redrives, IReadOnlyList<FlowStep> Timeline, JsonElement? Workflow, DeadLetter? DeadLetter = null,
        string? Style = null);

    public static IEndpointRouteBuilder MapMonitorApi(this IEndpointRouteBuilder app)
    {
        // Every flow event of both styles arrives here; components/monitor routes each topic to /events/{topic}.
        app.MapPost("/events/{topic}", async (string topic, JsonElement data, HttpRequest request, FlowBook flows, CancellationToken ct) =>
        {
            await flows.RecordAsync(topic, data, request.Headers["Cloudevent.source"].FirstOrDefault(), request.Headers.TraceParent.FirstOrDefault(), ct);
            return Results.Ok();
        });

        // Events a flow subscriber failed for good (components/monitor: the flow-deadletter topic). The event is the
        // original one, so its CloudEvent topic names the step that failed.
        app.MapPost("/deadletter", async (JsonElement data, HttpRequest request, FlowBook flows, CancellationToken ct) =>
        {
            await flows.RecordDeadLetterAsync(request.Headers["Cloudevent.topic"].FirstOrDefault(), data, ct);
            return Results.Ok();
        });

        app.MapFlowPage();

        var group = app.MapGroup("/flows");
        // One `flow` event (data: the order id) each time a flow changes, for the flow page to read it again. A first
        // `listening` event sends the response's headers at once (they would wait for the first change otherwise), so
        // the page knows it is connected.
        group.MapGet("/events", (FlowChanges changes, IHostApplicationLifetime lifetime, CancellationToken ct) =>
        {
            // The stream ends when the client goes or the app stops, so that an open page never holds up a shutdown.
            var stopping = CancellationTokenSource.CreateLinkedTokenSource(ct, lifetime.ApplicationStopping);
            return TypedResults.ServerSentEvents(Stream(changes.Listen(), stopping));
        });
        group.MapGet("/", async (FlowStatus? status, FlowBook flows, CancellationToken ct) =>
            TypedResults.Ok((await flows.ListAsync(ct)).Where(f => status is null || f.Status == status).Select(f => View(f, flows, null)).ToList()));
        group.MapGet("/{orderId}", async Task<Results<Ok<FlowView>, ProblemHttpResult>> (string orderId, FlowBook flows, IHttpClientFactory http, CancellationToken ct) =>
            await flows.GetAsync(orderId, ct) is { } flow ? TypedResults.Ok(View(flow, flows, await WorkflowOfAsync(http, flow, ct))) : NotFound(orderId));
        group.MapPost("/{orderId}/redrive", async Task<Results<Accepted<FlowView>, ProblemHttpResult>> (
            string orderId, FlowBook flows, CancellationToken ct) =>
        {
            if (await flows.RedriveAsync(orderId, ct) is { } redriven) return TypedResults.Accepted($"/flows/{orderId}", View(redriven, flows, null));
            if (await flows.GetAsync(orderId, ct) is not { } flow) return NotFound(orderId);
            return Problems.Conflict("Only a stalled or dead-lettered flow can be redriven", $"The flow of order '{orderId}' is {flow.Status}.");
        });
        return app;
    }

    private static async IAsyncEnumerable<SseItem<string>> Stream(FlowChanges.Listener listener, CancellationTokenSource stopping)
    {
        using (listener)
        using (stopping)
        {
            yield return new SseItem<string>("", "listening");
            await foreach (var orderId in listener.ReadAllAsync(stopping.Token))
                yield return new SseItem<string>(orderId, "flow");
        }
    }

    private static FlowView View(Flow flow, FlowBook flows, JsonElement? workflow) =>
        new(flow.OrderId, flow.Status, flow.Last.Topic, flow.Expected, flows.DueAt(flow), flow.StalledAt, flow.Redrives,
            [.. flow.Steps.OrderBy(s => FlowRules.Rank(s.Step)).ThenBy(s => s.At)], workflow, flow.DeadLetter, flow.Style);

    /// <summary>
    /// In the orchestration style the workflow's own status tells more (e.g. which step it waits on); absent otherwise.
    /// A flow known to be choreographed is not looked up: without an orchestrator app the call waits for the sidecar
    /// to give up resolving it (seconds), which the flow page would pay on each update.
    /// </summary>
    private static async Task<JsonElement?> WorkflowOfAsync(IHttpClientFactory http, Flow flow, CancellationToken ct)
    {
        if (flow.Style == "choreography") return null;
        var orderId = flow.OrderId;
        using var response = await http.CreateAppClient(AppIds.Orchestrator).GetAsync($"workflows/{orderId}", ct);
        return response.IsSuccessStatusCode ? await response.Content.ReadFromJsonAsync<JsonElement>(ct) : null;
    }

    private static ProblemHttpResult NotFound(string orderId) =>
        Problems.NotFound("Flow not found", $"The monitor has seen no event of order '{orderId}'.");
}
