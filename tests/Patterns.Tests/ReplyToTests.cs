using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OrderFlow.Patterns.ReplyTo;
using Patterns.Tests.Harness;

namespace Patterns.Tests;

/// <summary>Pattern 4: pub/sub keeping context with a replyTo topic and a correlation id.</summary>
public sealed class ReplyToTests
{
    private static readonly Dictionary<string, decimal> Prices = new() { ["apple"] = 1.25m, ["pear"] = 0.80m, ["plum"] = 2.10m };

    [Fact]
    public async Task Concurrent_requests_each_get_the_reply_matching_their_correlation_id_from_whichever_instance_received_it()
    {
        await using var cluster = new Cluster("local");
        await RepliesMatchTheirRequestsAsync(cluster);
    }

    /// <summary>Also run on every real broker (PubSubPatternsOnBrokers).</summary>
    internal static async Task RepliesMatchTheirRequestsAsync(Cluster cluster)
    {
        var instances = new[] { await cluster.StartPatternsAsync("a"), await cluster.StartPatternsAsync("b") };

        var requests = Enumerable.Range(1, 30).Select(i => (Sku: Prices.Keys.ElementAt(i % 3), Quantity: i, Via: instances[i % 2])).ToList();
        var answers = await Task.WhenAll(requests.Select(async r =>
        {
            var response = await r.Via.Invoke.PostAsJsonAsync("prices/quote", new { sku = r.Sku, quantity = r.Quantity, timeoutMs = 10_000 });
            response.StatusCode.Should().Be(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
            return (Request: r, Answer: (await response.Content.ReadFromJsonAsync<PricesApi.QuoteAnswer>())!);
        }));

        foreach (var (request, answer) in answers)
        {
            answer.Quote.Sku.Should().Be(request.Sku);
            answer.Quote.Quantity.Should().Be(request.Quantity);
            answer.Quote.Total.Should().Be(Prices[request.Sku] * request.Quantity);
            answer.WaitedBy.Should().Be(answer.Quote.RequestedBy);
        }
        answers.Select(a => a.Answer.Quote.CorrelationId).Should().OnlyHaveUniqueItems();
        answers.Should().Contain(a => a.Answer.ReceivedBy != a.Answer.WaitedBy,
            "replies are competed for by both instances, so some reach the one that is not waiting");
    }

    /// <summary>The essay's in-memory context with a queue group: a reply the broker hands to the other instance is lost.</summary>
    [Fact]
    public async Task With_in_memory_handling_a_reply_that_reaches_the_other_instance_is_lost()
    {
        await using var cluster = new Cluster("local");
        var requester = await cluster.StartPatternsAsync("a");
        var other = await cluster.StartPatternsAsync("b");

        var outcomes = new List<(HttpStatusCode Status, string CorrelationId)>();
        for (var i = 1; i <= 10; i++)
        {
            var response = await requester.Invoke.PostAsJsonAsync("prices/quote",
                new { sku = "pear", quantity = i, timeoutMs = 1000, replyHandling = nameof(ReplyHandling.InMemory) });
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            var correlationId = response.IsSuccessStatusCode
                ? body.GetProperty("quote").GetProperty("correlationId").GetString()!
                : body.GetProperty("correlationId").GetString()!;
            outcomes.Add((response.StatusCode, correlationId));
        }

        var lost = outcomes.Where(o => o.Status == HttpStatusCode.GatewayTimeout).Select(o => o.CorrelationId).ToList();
        lost.Should().NotBeEmpty("some replies were handed to the instance that was not waiting");
        other.Service<PendingReplies>().Unmatched.Should().BeEquivalentTo(lost, "each lost reply reached b, where no one waited for it");
        outcomes.Where(o => o.Status == HttpStatusCode.OK).Should().NotBeEmpty();
    }

    [Fact]
    public async Task A_request_nobody_answers_times_out_with_504_problem_details()
    {
        await using var cluster = new Cluster("local");
        var a = await cluster.StartPatternsAsync("a");

        var clock = Stopwatch.StartNew();
        var response = await a.Invoke.PostAsJsonAsync("prices/quote", new { sku = "durian", quantity = 1, timeoutMs = 300 });

        // .NET timers run on a coarse tick and may fire a few ms before the Stopwatch says 300 ms (299.86 ms was seen).
        clock.Elapsed.Should().BeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(290), "it waits for the requested timeout");
        response.StatusCode.Should().Be(HttpStatusCode.GatewayTimeout);
        response.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        problem.GetProperty("correlationId").GetString().Should().NotBeNullOrEmpty();
        a.Service<PendingReplies>().Waiting.Should().Be(0, "a timed-out request is forgotten");
    }

    /// <summary>
    /// The essay's weakness: the requester restarts between request and reply. Its in-memory context is gone, so an
    /// in-memory reply handler finds no one waiting and the reply is lost; the state-store handler keeps it under the
    /// correlation id, where the restarted requester (or anyone) collects it.
    /// </summary>
    [Theory]
    [InlineData(ReplyHandling.InMemory)]
    [InlineData(ReplyHandling.StateStore)]
    public async Task A_reply_that_arrives_after_the_requester_restarted(ReplyHandling handling)
    {
        await using var cluster = new Cluster("local");
        var requester = await cluster.StartPatternsAsync("a");
        var before = requester.Service<PendingReplies>();

        var waiting = requester.Invoke.PostAsJsonAsync("prices/quote",
            new { sku = "plum", quantity = 2, respondAfterMs = 1500, timeoutMs = 20_000, replyHandling = handling.ToString() });
        await Wait.UntilAsync(() => before.Waiting == 1, "the request to be waiting", Wait.EndToEndTimeout);
        await cluster.RestartAppAsync(requester);
        var after = requester.Service<PendingReplies>();

        var cut = await waiting;
        cut.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable, "the requester stopped waiting when it shut down");
        var correlationId = (await cut.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("correlationId").GetString()!;

        if (handling == ReplyHandling.InMemory)
        {
            await Wait.UntilAsync(() => before.Unmatched.Contains(correlationId) || after.Unmatched.Contains(correlationId),
                "the reply to reach an instance with no one waiting", Wait.EndToEndTimeout);
            (await requester.Invoke.GetAsync($"prices/replies/{correlationId}")).StatusCode.Should().Be(HttpStatusCode.NotFound, "the reply is lost");
        }
        else
        {
            var kept = await Wait.ForAsync(() => requester.Invoke.GetAsync($"prices/replies/{correlationId}"),
                r => r.IsSuccessStatusCode, "the reply to be kept", Wait.EndToEndTimeout);
            var quote = (await kept.Content.ReadFromJsonAsync<ReceivedQuote>())!.Quote;
            quote.Should().BeEquivalentTo(new { CorrelationId = correlationId, Sku = "plum", Quantity = 2, Total = 4.20m });
        }
    }
}
