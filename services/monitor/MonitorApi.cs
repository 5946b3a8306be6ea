using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Monitor;

public static class MonitorApi
{
    public sealed record FlowView(string OrderId, FlowStatus Status, string LastStep, IReadOnlyList<string> Expected, DateTimeOffset DueAt,
        DateTimeOffset? StalledAt, int Redrives, IReadOnlyList<FlowStep> Timeline, JsonElement? Workflow, DeadLetter? DeadLetter = null);

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

        var group = app.MapGroup("/flows");
        group.MapGet("/", async (FlowStatus? status, FlowBook flows, CancellationToken ct) =>
            TypedResults.Ok((await flows.ListAsync(ct)).Where(f => status is null || f.Status == status).Select(f => View(f, flows, null)).ToList()));
        group.MapGet("/{orderId}", async Task<Results<Ok<FlowView>, ProblemHttpResult>> (string orderId, FlowBook flows, IHttpClientFactory http, CancellationToken ct) =>
            await flows.GetAsync(orderId, ct) is { } flow ? TypedResults.Ok(View(flow, flows, await WorkflowOfAsync(http, orderId, ct))) : NotFound(orderId));
        group.MapPost("/{orderId}/redrive", async Task<Results<Accepted<FlowView>, ProblemHttpResult>> (
            string orderId, FlowBook flows, CancellationToken ct) =>
        {
            if (await flows.RedriveAsync(orderId, ct) is { } redriven) return TypedResults.Accepted($"/flows/{orderId}", View(redriven, flows, null));
            if (await flows.GetAsync(orderId, ct) is not { } flow) return NotFound(orderId);
            return Problems.Conflict("Only a stalled or dead-lettered flow can be redriven", $"The flow of order '{orderId}' is {flow.Status}.");
        });
        return app;
    }

    private static FlowView View(Flow flow, FlowBook flows, JsonElement? workflow) =>
        new(flow.OrderId, flow.Status, flow.Last.Topic, flow.Expected, flows.DueAt(flow), flow.StalledAt, flow.Redrives, flow.Steps, workflow, flow.DeadLetter);

    /// <summary>In the orchestration style the workflow's own status tells more (e.g. which step it waits on); absent otherwise.</summary>
    private static async Task<JsonElement?> WorkflowOfAsync(IHttpClientFactory http, string orderId, CancellationToken ct)
    {
        using var response = await http.CreateAppClient(AppIds.Orchestrator).GetAsync($"workflows/{orderId}", ct);
        return response.IsSuccessStatusCode ? await response.Content.ReadFromJsonAsync<JsonElement>(ct) : null;
    }

    private static ProblemHttpResult NotFound(string orderId) =>
        Problems.NotFound("Flow not found", $"The monitor has seen no event of order '{orderId}'.");
}
