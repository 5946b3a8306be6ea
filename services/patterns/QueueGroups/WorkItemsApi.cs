using System.Collections.Concurrent;
using Dapr.AspNetCore;
using Dapr.Client;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Patterns.QueueGroups;

/// <summary>A fire-and-forget event: nobody waits for an answer.</summary>
public sealed record WorkItemPosted(string ItemId, int Number);

/// <summary>Who handled a work item; the first handling wins, a redelivery only counts.</summary>
public sealed record WorkItemHandled(string ItemId, string HandledBy, int Deliveries);

/// <summary>The items this instance handled, kept in memory so a test (or curl) can ask each instance directly.</summary>
public sealed class WorkItemLog
{
    public ConcurrentQueue<string> HandledHere { get; } = new();
}

/// <summary>
/// Pattern 3, pub/sub without context: POST /work-items publishes events and returns; every instance of this app id
/// subscribes as one consumer group (the app id), so each event is handled by exactly one of them.
/// </summary>
public static class WorkItemsApi
{
    public sealed record PostWorkItems(int? Count);

    public sealed record WorkItemsPosted(IReadOnlyList<string> ItemIds);

    public static IEndpointRouteBuilder MapWorkItemsApi(this IEndpointRouteBuilder app)
    {
        var items = app.MapGroup("/work-items");
        items.MapPost("/", PostAsync);
        items.MapGet("/handled-here", (WorkItemLog log, IOptions<PatternsOptions> options) =>
            TypedResults.Ok(new { instanceId = options.Value.InstanceId, items = log.HandledHere.ToArray() }));
        items.MapGet("/{itemId}", async Task<Results<Ok<WorkItemHandled>, ProblemHttpResult>> (string itemId, DaprClient dapr, CancellationToken ct) =>
            await dapr.GetStateAsync<WorkItemHandled?>(Components.StateStore, Key(itemId), cancellationToken: ct) is { } handled
                ? TypedResults.Ok(handled)
                : Problems.NotFound("Work item not handled", $"No instance has handled work item '{itemId}' yet."));
        items.MapPost("/events/work-item-posted", HandleAsync).WithTopic(Components.PubSub, PatternTopics.WorkItems);
        return app;
    }

    private static string Key(string itemId) => $"work-item-{itemId}";

    private static async Task<Results<Accepted<WorkItemsPosted>, ValidationProblem>> PostAsync(PostWorkItems request, DaprClient dapr, CancellationToken ct)
    {
        if (request.Count is < 1 or > 1000)
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["count"] = ["must be between 1 and 1000"] });
        var batch = Guid.NewGuid().ToString("N")[..8];
        var ids = Enumerable.Range(1, request.Count ?? 1).Select(n => $"{batch}-{n}").ToList();
        for (var n = 0; n < ids.Count; n++)
            await dapr.PublishEventAsync(Components.PubSub, PatternTopics.WorkItems, new WorkItemPosted(ids[n], n + 1), ct);
        return TypedResults.Accepted((string?)null, new WorkItemsPosted(ids));
    }

    private static async Task<Ok> HandleAsync(WorkItemPosted item, DaprClient dapr, WorkItemLog log, IOptions<PatternsOptions> options,
        ILogger<WorkItemLog> logger, CancellationToken ct)
    {
        var me = options.Value.InstanceId;
        var handled = await dapr.UpdateStateAsync<WorkItemHandled>(Key(item.ItemId),
            current => current is null ? new WorkItemHandled(item.ItemId, me, 1) : current with { Deliveries = current.Deliveries + 1 }, ct);
        if (handled is { Deliveries: 1 })
        {
            await Task.Delay(options.Value.WorkItemProcessingTime, ct); // the work itself
            log.HandledHere.Enqueue(item.ItemId);
            logger.LogInformation("work item {ItemId} handled by {Instance}", item.ItemId, me);
        }
        return TypedResults.Ok();
    }
}
