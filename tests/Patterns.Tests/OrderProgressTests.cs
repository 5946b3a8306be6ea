using System.Net;
using System.Text.Json;
using Patterns.Tests.Harness;

namespace Patterns.Tests;

/// <summary>Pattern 2: RPC + server-side stream, GET /orders/{id}/progress as NDJSON through service invocation.</summary>
public sealed class OrderProgressTests
{
    [Fact]
    public async Task One_request_streams_accepted_each_step_the_result_and_an_end_line_progressively_through_the_sidecar()
    {
        await using var cluster = new Cluster("local", "choreography");
        var (orders, inventory) = await cluster.StartOrderFlowAsync(dispatchDelay: TimeSpan.FromSeconds(1));
        var client = await cluster.StartAsync("client", build: null);
        var orderId = await PatternsApps.PlaceCompletingOrderAsync(orders, inventory);

        var lines = new List<ReceivedLine>();
        await foreach (var line in NdjsonReader.ReadLinesAsync(client.InvokeApp("orders"), $"orders/{orderId}/progress")) lines.Add(line);

        lines.Select(l => l.Type).Should().StartWith("accepted").And.EndWith(["result", "end"]);
        lines.Where(l => l.Type == "step").Select(l => l.Message.GetProperty("step").GetString()).Should().ContainInOrder(
            "order-placed", "stock-reserved", "payment-charged", "shipment-dispatched", "order-completed");
        lines[^2].Message.GetProperty("status").GetString().Should().Be("Completed");
        lines[^1].Message.GetProperty("complete").GetBoolean().Should().BeTrue();
        lines[0].ReceivedAt.Should().BeBefore(lines[^2].SentAt,
            "the first response reached the client, through the client's and the orders sidecar, before the result was produced");
    }

    [Fact]
    public async Task An_unknown_order_is_a_404_problem()
    {
        await using var cluster = new Cluster("local", "choreography");
        var (orders, _) = await cluster.StartOrderFlowAsync(dispatchDelay: TimeSpan.FromMilliseconds(100));

        var response = await orders.Invoke.GetAsync("orders/nope/progress");

        response.StatusCode.Should().Be(HttpStatusCode.NotFound);
        response.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
    }
}
