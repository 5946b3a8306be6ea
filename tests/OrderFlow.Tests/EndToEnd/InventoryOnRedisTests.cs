using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using Dapr.Client;
using FluentAssertions.Execution;
using OrderFlow.Contracts;
using OrderFlow.Inventory;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Tests.EndToEnd;

/// <summary>
/// Inventory alone on components/redis (state.redis, pubsub.redis), with a watcher app subscribed to its announcements.
/// state.redis is as harsh as components-contrib v1.17.6 state/redis/redis.go: a transaction applies partially and a
/// first write on an existing key is an Internal error, not Aborted. A class fixture.
/// </summary>
public sealed class InventoryOnRedis : IAsyncLifetime
{
    private readonly TempFolder _workDir = new("inventory-redis-");
    private BrokerComponents _broker = null!;
    private Cluster _cluster = null!;

    public const string WatcherAppId = "stock-watcher";

    public Member Inventory { get; private set; } = null!;

    /// <summary>Every stock-reserved, stock-rejected and stock-released event published.</summary>
    public EventSinkApp Watcher { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _broker = await BrokerComponents.StartAsync("redis", _workDir.Path);
        _cluster = new Cluster(new ClusterOptions { Resources = [_broker.Folder] });
        Inventory = await _cluster.StartAsync(OrderFlowApps.Inventory);
        Watcher = _cluster.Own(await EventSinkApp.StartAsync(Topics.StockReserved, Topics.StockRejected, Topics.StockReleased));
        await _cluster.StartReadySidecarAsync(WatcherAppId, Watcher.Port);
    }

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        await _broker.DisposeAsync();
        _workDir.Dispose();
    }
}

[RequiresBroker("redis-server")]
public sealed class InventoryOnRedisTests(InventoryOnRedis fixture) : IClassFixture<InventoryOnRedis>
{
    private readonly HttpClient _inventory = fixture.Inventory.Invoke;

    private static string Unique(string prefix) => FlowClient.Unique(prefix);

    private static OrderDetails Order(params OrderItem[] items) =>
        new(Unique("order"), "customer", items, 10m, new Address("1 Canal St", "Utrecht", "NL"));

    private async Task<string> StockAsync(int available)
    {
        var sku = Unique("sku");
        (await _inventory.PutAsJsonAsync($"stock/{sku}", new { available })).EnsureSuccessStatusCode();
        return sku;
    }

    private async Task<StockLevel> LevelAsync(string sku) => (await _inventory.GetFromJsonAsync<StockLevel>($"stock/{sku}", FlowClient.Json))!;

    /// <summary>One delivery of a command, repeated on a 5xx as a broker redelivers a failed event; its final answer.</summary>
    private async Task<StepResult> DeliverAsync(string path, object body)
    {
        for (var delivery = 1; ; delivery++)
        {
            using var response = await _inventory.PostAsJsonAsync(path, body, FlowClient.Json);
            if (response.IsSuccessStatusCode) return (await response.Content.ReadFromJsonAsync<StepResult>(FlowClient.Json))!;
            if ((int)response.StatusCode < 500 || delivery == 20)
                throw new InvalidOperationException($"{path}: {(int)response.StatusCode} after {delivery} deliveries: {await response.Content.ReadAsStringAsync()}");
        }
    }

    private IEnumerable<(string Topic, string OrderId)> Announcements() =>
        fixture.Watcher.Delivered.Select(e => ((string)e.Envelope["topic"]!, (string)e.Envelope["data"]!["order"]!["orderId"]!));

    [BrokerFact]
    public async Task Two_hundred_concurrent_orders_never_oversell_when_transactions_apply_partially()
    {
        var stock = new Dictionary<string, int> { [await StockAsync(60)] = 60, [await StockAsync(40)] = 40 };
        var (a, b) = (stock.Keys.First(), stock.Keys.Last());
        var random = new Random(14);
        var orders = Enumerable.Range(0, 200).Select(_ => random.Next(3) == 0
            ? Order(new OrderItem(b, random.Next(1, 3)), new OrderItem(a, random.Next(1, 3)))
            : Order(new OrderItem(a, random.Next(1, 4)))).ToList();
        // Every fifth order is delivered twice at once, as an at-least-once broker may.
        var deliveries = orders.Concat(orders.Where((_, i) => i % 5 == 0)).OrderBy(_ => random.Next()).ToList();

        var answers = new ConcurrentBag<(string OrderId, StepResult Answer)>();
        await Task.WhenAll(deliveries.Select(async order => answers.Add((order.OrderId, await DeliverAsync("reservations", order)))));

        var ids = orders.Select(o => o.OrderId).ToHashSet();
        await Wait.UntilAsync(() => Announcements().Where(x => ids.Contains(x.OrderId)).Select(x => x.OrderId).Distinct().Count() == orders.Count,
            "every order announced", TimeSpan.FromSeconds(60));
        var announced = Announcements().Where(x => ids.Contains(x.OrderId)).GroupBy(x => x.OrderId).ToDictionary(g => g.Key, g => g.Select(x => x.Topic).Distinct().ToList());
        announced.Where(x => x.Value.Count > 1).Select(x => x.Key).Should().BeEmpty("an order is either reserved or rejected, whichever delivery answers");
        answers.Where(x => x.Answer.Succeeded != (announced[x.OrderId].Single() == Topics.StockReserved)).Should().BeEmpty("every answer agrees with the announcement");

        var reservedOrders = orders.Where(o => announced[o.OrderId].Single() == Topics.StockReserved).ToList();
        using (new AssertionScope())
        {
            foreach (var (sku, initial) in stock)
            {
                var level = await LevelAsync(sku);
                var announcedReserved = reservedOrders.Sum(o => StockRules.Demand(o.Items).GetValueOrDefault(sku));
                level.Available.Should().BeGreaterThanOrEqualTo(0, $"{sku} is never oversold");
                (level.Available + level.Reserved).Should().Be(initial, $"no stock of {sku} appears or vanishes");
                level.Reserved.Should().Be(announcedReserved, $"what is reserved of {sku} is what the orders announced as reserved hold");
                level.Pending.Should().BeNull($"nothing is left pending on {sku}");
            }
            reservedOrders.Count.Should().BeInRange(1, orders.Count - 1, "demand exceeds stock, so some orders are turned away");
        }
    }

    [BrokerFact]
    public async Task A_release_delivered_many_times_at_once_gives_the_stock_back_once()
    {
        const int Initial = 10, Orders = 16, Duplicates = 10;
        var skus = new List<string>();
        for (var i = 0; i < Orders; i++) skus.Add(await StockAsync(Initial));
        var released = skus.Select(sku => Order(new OrderItem(sku, 3))).ToList();
        foreach (var order in released) (await DeliverAsync("reservations", order)).Succeeded.Should().BeTrue();

        // Each release delivered many times at once, while another order reserves the same SKU.
        var others = skus.Select(sku => Order(new OrderItem(sku, 2))).ToList();
        await Task.WhenAll(
            released.SelectMany(order => Enumerable.Range(0, Duplicates).Select(_ =>
                DeliverAsync($"reservations/{order.OrderId}/release", new Compensate(order, "payment declined")))).Concat(
            others.Select(order => DeliverAsync("reservations", order))));

        var levels = await Task.WhenAll(skus.Select(LevelAsync));
        levels.Select(l => $"available {l.Available}, reserved {l.Reserved}, pending {l.Pending?.Count ?? 0}").Should()
            .AllBe($"available {Initial - 2}, reserved 2, pending 0", "each release gave its 3 back exactly once");
        foreach (var order in released)
            (await _inventory.GetFromJsonAsync<Reservation>($"reservations/{order.OrderId}", FlowClient.Json))!.Status.Should().Be(ReservationStatus.Released);
    }

    [BrokerFact]
    public async Task Concurrent_first_writes_of_one_key_all_land()
    {
        // Through the app: every PUT of a new SKU writes its level and an index shard, both new keys.
        var sku = Unique("sku");
        var puts = await Task.WhenAll(Enumerable.Range(1, 20).Select(i => _inventory.PutAsJsonAsync($"stock/{sku}", new { available = i })));
        puts.Select(r => r.StatusCode).Should().AllBeEquivalentTo(HttpStatusCode.OK);
        (await _inventory.GetFromJsonAsync<List<StockLevel>>("stock", FlowClient.Json))!.Count(l => l.Sku == sku).Should().Be(1);

        // Through UpdateStateAsync itself: no update is lost.
        var dapr = fixture.Inventory.Service<DaprClient>();
        var key = Unique("first-writes");
        var writers = Enumerable.Range(0, 20).Select(i => $"writer-{i}").ToList();
        await Task.WhenAll(writers.Select(w => dapr.UpdateStateAsync<List<string>>(key, ids => [.. ids ?? [], w])));
        (await dapr.GetStateAsync<List<string>>(Components.StateStore, key)).Should().BeEquivalentTo(writers);
    }
}
