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
    /// when its event arrived, which may be out of that order) and <see cref="Lanes"/> the apps the page draws them across.
    /// <see cref="Workflow"/>, the orchestrator's runtime status and custom status, only for one order in orchestration.</summary>
    public sealed record FlowView(string OrderId, FlowStatus Status, string LastStep, IReadOnlyList<string> Expected, DateTimeOffset DueAt,
        DateTimeOffset? StalledAt, int Redrives, IReadOnlyList<StepView> Timeline, JsonElement? Workflow, DeadLetter? DeadLetter,
        string? Style, IReadOnlyList<string> Lanes);

    /// <summary>A step with the arrows that carried it (<see cref="FlowMap"/>); <see cref="App"/> is the event's publisher.</summary>
    public sealed record StepView(string Step, DateTimeOffset At, string? App, string? TraceId, bool Compensation, IReadOnlyList<Hop> Hops);

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
        // Reading a flow whose style is not known yet asks for it (FlowStyles): recording events does not.
        group.MapGet("/", async (FlowStatus? status, FlowBook flows, FlowStyles styles, CancellationToken ct) =>
            TypedResults.Ok((await flows.ListAsync(ct)).Where(f => status is null || f.Status == status)
                .Select(f => { styles.ResolveIfUnknown(f); return View(f, flows, null); }).ToList()));
        // A flow not known to be orchestrated is not looked up: without an orchestrator app the call waits for the
        // sidecar to give up resolving it (seconds), which the flow page would pay on each update.
        group.MapGet("/{orderId}", async Task<Results<Ok<FlowView>, ProblemHttpResult>> (string orderId, FlowBook flows, Workflows workflows, FlowStyles styles,
            CancellationToken ct) =>
        {
            if (await flows.GetAsync(orderId, ct) is not { } flow) return NotFound(orderId);
            styles.ResolveIfUnknown(flow);
            return TypedResults.Ok(View(flow, flows, flow.Style == FlowMap.Orchestration ? await workflows.OfAsync(orderId, ct) : null));
        });
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
            [.. flow.Steps.OrderBy(s => FlowRules.Rank(s.Step)).ThenBy(s => s.At).Select(s => StepOf(s, flow.Style))],
            workflow, flow.DeadLetter, flow.Style, FlowMap.Lanes(flow.Style));

    /// <summary>An event's arrow starts at its publisher as recorded, where known.</summary>
    private static StepView StepOf(FlowStep step, string? style) =>
        new(step.Step, step.At, step.App, step.TraceId, FlowMap.IsCompensation(step.Step),
            [.. FlowMap.HopsOf(style, step.Step).Select(h => h.Via == Via.Event && step.App is { } app ? h with { From = app } : h)]);

    private static ProblemHttpResult NotFound(string orderId) =>
        Problems.NotFound("Flow not found", $"The monitor has seen no event of order '{orderId}'.");
}
