using Dapr.AspNetCore;
using Dapr.Client;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Patterns.ReplyTo;

/// <summary>
/// Pattern 4, pub/sub keeping context: POST /prices/quote publishes a price-requests event carrying a correlation id
/// and a replyTo topic, then waits for the matching reply with a timeout (504). Every instance of this app subscribes
/// to the reply topics as one consumer group, so the reply may reach an instance that is not the one waiting.
/// With replyHandling StateStore the receiver stores it under the correlation id, where the waiting instance — or, after
/// a restart, anyone — finds it; with InMemory (the essay's way) it only looks in its own pending map and drops it.
/// </summary>
public static class PricesApi
{
    public sealed record QuoteRequest(string? Sku, int? Quantity, int? TimeoutMs, int? RespondAfterMs, ReplyHandling? ReplyHandling);

    public sealed record QuoteAnswer(PriceQuoted Quote, string ReceivedBy, string WaitedBy);

    public static IEndpointRouteBuilder MapPricesApi(this IEndpointRouteBuilder app)
    {
        var prices = app.MapGroup("/prices");
        prices.MapPost("/quote", QuoteAsync);
        prices.MapGet("/replies/unmatched", (PendingReplies pending, IOptions<PatternsOptions> options) =>
            TypedResults.Ok(new { instanceId = options.Value.InstanceId, correlationIds = pending.Unmatched.ToArray() }));
        prices.MapGet("/replies/{correlationId}", async Task<Results<Ok<ReceivedQuote>, ProblemHttpResult>> (string correlationId, DaprClient dapr, CancellationToken ct) =>
            await StoredReplyAsync(dapr, correlationId, ct) is { } stored
                ? TypedResults.Ok(stored)
                : Problems.NotFound("No reply", $"No reply is stored for '{correlationId}'."));

        prices.MapPost("/events/price-requested", RespondAsync).WithTopic(Components.PubSub, PatternTopics.PriceRequests);
        prices.MapPost("/events/price-replied", KeepReplyAsync).WithTopic(Components.PubSub, PatternTopics.PriceReplies);
        prices.MapPost("/events/price-replied-in-memory", (PriceQuoted reply, PendingReplies pending, ILogger<PendingReplies> logger) =>
        {
            if (!pending.TryComplete(reply))
            {
                pending.Unmatched.Enqueue(reply.CorrelationId);
                logger.LogWarning("reply {CorrelationId} arrived where no one waits for it; with in-memory handling it is lost", reply.CorrelationId);
            }
            return TypedResults.Ok();
        }).WithTopic(Components.PubSub, PatternTopics.PriceRepliesInMemory);
        return app;
    }

    private static string ReplyKey(string correlationId) => $"price-reply-{correlationId}";

    private static Task<ReceivedQuote?> StoredReplyAsync(DaprClient dapr, string correlationId, CancellationToken ct) =>
        dapr.GetStateAsync<ReceivedQuote?>(Components.StateStore, ReplyKey(correlationId), cancellationToken: ct);

    private static async Task<Results<Ok<QuoteAnswer>, ValidationProblem, ProblemHttpResult>> QuoteAsync(QuoteRequest request, DaprClient dapr,
        PendingReplies pending, IOptions<PatternsOptions> options, IHostApplicationLifetime lifetime, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(request.Sku) || request.Quantity is < 1)
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["sku"] = ["a sku and a positive quantity are required"] });
        var me = options.Value.InstanceId;
        var handling = request.ReplyHandling ?? ReplyHandling.StateStore;
        var correlationId = Guid.NewGuid().ToString("N");
        var replyTo = handling == ReplyHandling.StateStore ? PatternTopics.PriceReplies : PatternTopics.PriceRepliesInMemory;
        var timeout = request.TimeoutMs is { } ms ? TimeSpan.FromMilliseconds(ms) : options.Value.ReplyTimeout;

        var reply = pending.Register(correlationId);
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(ct, lifetime.ApplicationStopping);
        waiting.CancelAfter(timeout);
        try
        {
            await dapr.PublishEventAsync(Components.PubSub, PatternTopics.PriceRequests,
                new PriceRequested(correlationId, replyTo, request.Sku, request.Quantity ?? 1, me, request.RespondAfterMs ?? 0), ct);
            while (true)
            {
                // The reply reaches this instance's map if the broker gave it to us; otherwise another instance stored it.
                await Task.WhenAny(reply, Task.Delay(options.Value.ReplyPollInterval, waiting.Token));
                if (reply.IsCompleted) return TypedResults.Ok(new QuoteAnswer(reply.Result, me, me));
                waiting.Token.ThrowIfCancellationRequested();
                if (handling == ReplyHandling.StateStore && await StoredReplyAsync(dapr, correlationId, ct) is { } stored)
                    return TypedResults.Ok(new QuoteAnswer(stored.Quote, stored.ReceivedBy, me));
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            var stopping = lifetime.ApplicationStopping.IsCancellationRequested;
            var later = handling == ReplyHandling.StateStore
                ? $" A late reply will be kept at /prices/replies/{correlationId}."
                : " A late reply will be lost.";
            return TypedResults.Problem(
                (stopping ? "This instance is shutting down and stopped waiting." : $"No reply within {timeout.TotalMilliseconds} ms.") + later,
                title: stopping ? "Shutting down" : "No reply in time",
                statusCode: stopping ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status504GatewayTimeout,
                extensions: new Dictionary<string, object?> { ["correlationId"] = correlationId });
        }
        finally
        {
            pending.Forget(correlationId);
        }
    }

    /// <summary>The responder: answers on the request's replyTo topic, after an optional delay (to let demos restart the requester).</summary>
    private static async Task<Ok> RespondAsync(PriceRequested request, DaprClient dapr, IOptions<PatternsOptions> options, ILogger<PendingReplies> logger)
    {
        if (!options.Value.Prices.TryGetValue(request.Sku, out var unitPrice))
        {
            logger.LogInformation("no price for {Sku}; request {CorrelationId} gets no reply", request.Sku, request.CorrelationId);
            return TypedResults.Ok();
        }
        // Not the request's token: once taken, a request is answered even if the delivery's connection goes away.
        await Task.Delay(TimeSpan.FromMilliseconds(Math.Clamp(request.RespondAfterMs, 0, 30_000)));
        await dapr.PublishEventAsync(Components.PubSub, request.ReplyTo,
            new PriceQuoted(request.CorrelationId, request.Sku, request.Quantity, unitPrice * request.Quantity, request.RequestedBy, options.Value.InstanceId));
        return TypedResults.Ok();
    }

    private static async Task<Ok> KeepReplyAsync(PriceQuoted reply, DaprClient dapr, PendingReplies pending, IOptions<PatternsOptions> options, CancellationToken ct)
    {
        await dapr.UpdateStateAsync<ReceivedQuote>(ReplyKey(reply.CorrelationId),
            current => current is null ? new ReceivedQuote(reply, options.Value.InstanceId) : null, ct);
        pending.TryComplete(reply);
        return TypedResults.Ok();
    }
}
