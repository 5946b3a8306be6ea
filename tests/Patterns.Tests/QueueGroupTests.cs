using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OrderFlow.Patterns.QueueGroups;
using Patterns.Tests.Harness;

namespace Patterns.Tests;

/// <summary>Pattern 3: pub/sub without context, two instances of one app id as a queue group.</summary>
public sealed class QueueGroupTests
{
    [Fact]
    public async Task Each_event_is_handled_by_exactly_one_of_two_instances()
    {
        await using var cluster = new Cluster("local");
        await EachEventIsHandledByOneInstanceAsync(cluster);
    }

    /// <summary>Also run on every real broker (PubSubPatternsOnBrokers).</summary>
    internal static async Task EachEventIsHandledByOneInstanceAsync(Cluster cluster)
    {
        var a = await cluster.StartPatternsAsync("a");
        var b = await cluster.StartPatternsAsync("b");

        var posted = await a.Invoke.PostAsJsonAsync("work-items", new { count = 40 });
        posted.StatusCode.Should().Be(HttpStatusCode.Accepted);
        var ids = (await posted.Content.ReadFromJsonAsync<WorkItemsApi.WorkItemsPosted>())!.ItemIds;

        var logA = a.Service<WorkItemLog>().HandledHere;
        var logB = b.Service<WorkItemLog>().HandledHere;
        await Wait.UntilAsync(() => logA.Count + logB.Count >= ids.Count, "all items handled", Wait.EndToEndTimeout);

        logA.Concat(logB).Should().BeEquivalentTo(ids, "every event is handled, and by one instance only");
        logA.Should().NotBeEmpty().And.NotIntersectWith(logB);
        logB.Should().NotBeEmpty();
        foreach (var id in ids)
        {
            var handled = (await a.Invoke.GetFromJsonAsync<WorkItemHandled>($"work-items/{id}"))!;
            handled.Deliveries.Should().Be(1);
        }
    }

    [Fact]
    public async Task Service_invocation_spreads_calls_across_the_instances_of_an_app_id()
    {
        await using var cluster = new Cluster("local");
        await cluster.StartPatternsAsync("a");
        await cluster.StartPatternsAsync("b");
        var client = await cluster.StartAsync("client", build: null);

        var seen = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            var instance = await client.InvokeApp("patterns").GetFromJsonAsync<JsonElement>("instance");
            seen.Add(instance.GetProperty("instanceId").GetString()!);
        }

        seen.Should().BeEquivalentTo(["a", "b", "a", "b"]);
    }
}
