using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Dapr;
using Dapr.Client;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Brokers;

// Oracle: ETag, first-write, TTL and transaction semantics per store, components-contrib v1.17.6 state/in-memory/
// in_memory.go, state/sqlite/sqlite_dbaccess.go and state/redis/redis.go; errors, bulk, transactions and the TTL header,
// daprd v1.17.9 pkg/api/http/http.go, pkg/api/grpc/grpc.go (getStateErrorCode, ExecuteStateTransaction) and
// https://docs.dapr.io/reference/api/state_api/.
// One suite, run against every store kind through the sidecar's HTTP API and Dapr.Client (gRPC); where contrib's
// stores differ, the store's StoreRules say how.
public abstract class StateStoreSemantics<TRun>(TRun run) : IClassFixture<TRun> where TRun : StateStoreRun
{
    /// <summary>Where contrib's stores differ from each other, as an app sees it.</summary>
    protected sealed record StoreRules(
        bool EtagOnMissingKeyFails,          // in-memory, sqlite: mismatch; redis: a missing key takes any ETag
        HttpStatusCode ForeignEtag,          // redis parses its ETag as a number: 400 invalid; the others 409
        HttpStatusCode FirstWriteConflict,   // redis: a plain error (500); the others an ETag mismatch (409)
        bool AtomicTransactions,             // redis applies each operation on its own
        bool WriteWithoutTtlClearsExpiry);   // redis leaves the key's expiry as it was

    protected abstract StoreRules Rules { get; }

    private const string Store = "statestore";
    private HttpClient Http => run.Http;
    private DaprClient Dapr => run.Dapr;

    private static string NewKey() => "k-" + Guid.NewGuid().ToString("N");
    private sealed record Order(string Id, int Qty);

    private Task<HttpResponseMessage> SaveAsync(string json) => Http.PostAsync($"/v1.0/state/{Store}", SidecarClients.Json(json));

    private static async Task<string?> ErrorCode(HttpResponseMessage response) =>
        (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())?["errorCode"];

    [BrokerFact]
    public async Task A_saved_value_comes_back_with_an_etag()
    {
        var key = NewKey();
        await Dapr.SaveStateAsync(Store, key, new Order("o-1", 5));
        var (value, etag) = await Dapr.GetStateAndETagAsync<Order>(Store, key);
        value.Should().Be(new Order("o-1", 5));
        etag.Should().NotBeNullOrEmpty();
    }

    [BrokerFact]
    public async Task A_missing_key_is_204_without_body_or_etag()
    {
        using var response = await Http.GetAsync($"/v1.0/state/{Store}/{NewKey()}");
        response.StatusCode.Should().Be(HttpStatusCode.NoContent);
        response.Headers.ETag.Should().BeNull();
        (await response.Content.ReadAsByteArrayAsync()).Should().BeEmpty();
        (await Dapr.GetStateAndETagAsync<Order>(Store, NewKey())).etag.Should().BeNullOrEmpty();
    }

    [BrokerFact]
    public async Task Every_write_makes_a_new_etag_and_a_stale_one_is_rejected()
    {
        var key = NewKey();
        await Dapr.SaveStateAsync(Store, key, new Order("a", 1));
        var (_, etag1) = await Dapr.GetStateAndETagAsync<Order>(Store, key);
        await Dapr.SaveStateAsync(Store, key, new Order("b", 2));
        var (_, etag2) = await Dapr.GetStateAndETagAsync<Order>(Store, key);
        etag2.Should().NotBe(etag1);

        (await Dapr.TrySaveStateAsync(Store, key, new Order("stale", 0), etag1)).Should().BeFalse();
        (await Dapr.GetStateAsync<Order>(Store, key)).Should().Be(new Order("b", 2));
        (await Dapr.TrySaveStateAsync(Store, key, new Order("fresh", 3), etag2)).Should().BeTrue();
        (await Dapr.GetStateAsync<Order>(Store, key)).Should().Be(new Order("fresh", 3));
    }

    [BrokerFact]
    public async Task An_etag_for_a_missing_key_and_a_foreign_etag_are_answered_as_the_store_does()
    {
        (await Dapr.TrySaveStateAsync(Store, NewKey(), new Order("x", 1), "1")).Should().Be(!Rules.EtagOnMissingKeyFails);

        var key = NewKey();
        await Dapr.SaveStateAsync(Store, key, new Order("x", 1));
        using var response = await SaveAsync($$"""[{"key":"{{key}}","value":{"id":"y"},"etag":"not-an-etag-of-this-store"}]""");
        response.StatusCode.Should().Be(Rules.ForeignEtag);
        (await ErrorCode(response)).Should().Be("ERR_STATE_SAVE");
    }

    [BrokerFact]
    public async Task Delete_checks_the_etag()
    {
        var key = NewKey();
        await Dapr.SaveStateAsync(Store, key, new Order("a", 1));
        var (_, etag1) = await Dapr.GetStateAndETagAsync<Order>(Store, key);
        await Dapr.SaveStateAsync(Store, key, new Order("b", 2));
        var (_, etag2) = await Dapr.GetStateAndETagAsync<Order>(Store, key);

        (await Dapr.TryDeleteStateAsync(Store, key, etag1)).Should().BeFalse();
        (await Dapr.TryDeleteStateAsync(Store, key, etag2)).Should().BeTrue();
        (await Dapr.GetStateAsync<Order>(Store, key)).Should().BeNull();
        await Dapr.DeleteStateAsync(Store, key); // deleting a missing key without an etag is fine
    }

    [BrokerFact]
    public async Task First_write_without_etag_fails_when_the_key_exists()
    {
        var key = NewKey();
        const string firstWrite = """ "options":{"concurrency":"first-write"} """;
        using (var created = await SaveAsync($$"""[{"key":"{{key}}","value":1,{{firstWrite}}}]"""))
            created.StatusCode.Should().Be(HttpStatusCode.NoContent);
        using var again = await SaveAsync($$"""[{"key":"{{key}}","value":2,{{firstWrite}}}]""");
        again.StatusCode.Should().Be(Rules.FirstWriteConflict);
        (await ErrorCode(again)).Should().Be("ERR_STATE_SAVE");
        (await Dapr.GetStateAsync<int>(Store, key)).Should().Be(1);

        // Dapr.Client: SaveState throws Aborted only where daprd answers Aborted; otherwise Internal.
        var act = () => Dapr.SaveStateAsync(Store, key, 3, new StateOptions { Concurrency = ConcurrencyMode.FirstWrite });
        var thrown = await act.Should().ThrowAsync<DaprException>();
        var rpc = (Grpc.Core.RpcException)thrown.Which.InnerException!;
        rpc.StatusCode.Should().Be(Rules.FirstWriteConflict == HttpStatusCode.Conflict ? Grpc.Core.StatusCode.Aborted : Grpc.Core.StatusCode.Internal);
        rpc.Status.Detail.Should().StartWith($"failed saving state in state store {Store}: ");
    }

    [BrokerFact]
    public async Task Concurrent_first_writes_of_one_key_have_exactly_one_winner()
    {
        var key = NewKey();
        var attempts = Enumerable.Range(0, 8).Select(async i =>
        {
            using var response = await SaveAsync($$$"""[{"key":"{{{key}}}","value":{{{i}}},"options":{"concurrency":"first-write"}}]""");
            return response.StatusCode;
        });
        var statuses = await Task.WhenAll(attempts);
        statuses.Count(s => s == HttpStatusCode.NoContent).Should().Be(1);
        statuses.Count(s => s == Rules.FirstWriteConflict).Should().Be(7);
    }

    [BrokerFact]
    public async Task A_transaction_with_a_stale_etag_fails_as_Internal_and_applies_what_the_store_applies()
    {
        var (a, b) = (NewKey(), NewKey());
        await Dapr.SaveStateAsync(Store, b, "to-delete");
        await Dapr.ExecuteStateTransactionAsync(Store,
        [
            new StateTransactionRequest(a, Encoding.UTF8.GetBytes("\"upserted\""), StateOperationType.Upsert),
            new StateTransactionRequest(b, null, StateOperationType.Delete),
        ]);
        (await Dapr.GetStateAsync<string>(Store, a)).Should().Be("upserted");
        (await Dapr.GetStateAsync<string>(Store, b)).Should().BeNull();

        var (_, etag) = await Dapr.GetStateAndETagAsync<string>(Store, a);
        await Dapr.SaveStateAsync(Store, a, "moved-on");
        var c = NewKey();
        using var failed = await Http.PostAsync($"/v1.0/state/{Store}/transaction", SidecarClients.Json($$$"""
            {"operations":[
              {"operation":"upsert","request":{"key":"{{{c}}}","value":"new"}},
              {"operation":"upsert","request":{"key":"{{{a}}}","value":"stale","etag":"{{{etag}}}"}}]}
            """));
        failed.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        (await ErrorCode(failed)).Should().Be("ERR_STATE_TRANSACTION");
        (await Dapr.GetStateAsync<string>(Store, a)).Should().Be("moved-on");
        (await Dapr.GetStateAsync<string>(Store, c)).Should().Be(Rules.AtomicTransactions ? null : "new");

        // Dapr.Client: Internal with daprd's text.
        var d = NewKey();
        var act = () => Dapr.ExecuteStateTransactionAsync(Store,
        [
            new StateTransactionRequest(d, Encoding.UTF8.GetBytes("\"d\""), StateOperationType.Upsert),
            new StateTransactionRequest(a, Encoding.UTF8.GetBytes("\"stale\""), StateOperationType.Upsert, etag),
        ]);
        var thrown = await act.Should().ThrowAsync<DaprException>();
        var rpc = (Grpc.Core.RpcException)thrown.Which.InnerException!;
        rpc.StatusCode.Should().Be(Grpc.Core.StatusCode.Internal);
        rpc.Status.Detail.Should().StartWith("error while executing state transaction: ");
        (await Dapr.GetStateAsync<string>(Store, d)).Should().Be(Rules.AtomicTransactions ? null : "d");
    }

    [BrokerFact]
    public async Task Ttl_is_reported_and_the_item_expires()
    {
        var key = NewKey();
        using (var saved = await Http.PostAsync($"/v1.0/state/{Store}?metadata.ttlInSeconds=1", SidecarClients.Json($$"""[{"key":"{{key}}","value":"short-lived"}]""")))
            saved.StatusCode.Should().Be(HttpStatusCode.NoContent);
        using (var got = await Http.GetAsync($"/v1.0/state/{Store}/{key}"))
        {
            got.StatusCode.Should().Be(HttpStatusCode.OK);
            got.Headers.TryGetValues("metadata.ttlExpireTime", out var expire).Should().BeTrue();
            DateTimeOffset.Parse(expire!.Single()).Should().BeCloseTo(DateTimeOffset.UtcNow.AddSeconds(1), TimeSpan.FromSeconds(3));
        }
        await Wait.UntilAsync(async () => (await Dapr.GetStateAsync<string>(Store, key)) is null, "the item expired", TimeSpan.FromSeconds(10));
    }

    [BrokerFact]
    public async Task A_write_without_ttl_keeps_or_clears_the_expiry_as_the_store_does()
    {
        var key = NewKey();
        await Dapr.SaveStateAsync(Store, key, "short", metadata: new Dictionary<string, string> { ["ttlInSeconds"] = "1" });
        await Dapr.SaveStateAsync(Store, key, "second");
        using (var got = await Http.GetAsync($"/v1.0/state/{Store}/{key}"))
            got.Headers.Contains("metadata.ttlExpireTime").Should().Be(!Rules.WriteWithoutTtlClearsExpiry);
        if (Rules.WriteWithoutTtlClearsExpiry)
            await Wait.StaysAsync(() => Dapr.GetStateAsync<string>(Store, key).GetAwaiter().GetResult() == "second",
                "the value outlives the first write's TTL", TimeSpan.FromSeconds(1.5));
        else
            await Wait.UntilAsync(async () => (await Dapr.GetStateAsync<string>(Store, key)) is null, "the first write's TTL still applies", TimeSpan.FromSeconds(10));
    }

    [BrokerFact]
    public async Task Bulk_get_returns_values_etags_and_missing_keys()
    {
        var (a, b, missing) = (NewKey(), NewKey(), NewKey());
        await Dapr.SaveBulkStateAsync(Store,
        [
            new SaveStateItem<Order>(a, new Order("a", 1), ""),
            new SaveStateItem<Order>(b, new Order("b", 2), ""),
        ]);
        var items = await Dapr.GetBulkStateAsync(Store, [a, b, missing], parallelism: 2);
        items.Single(i => i.Key == a).Value.Should().Contain("\"a\"");
        items.Single(i => i.Key == b).ETag.Should().NotBeNullOrEmpty();
        items.Single(i => i.Key == missing).Value.Should().BeNullOrEmpty();

        await Dapr.DeleteBulkStateAsync(Store, [new BulkDeleteStateItem(a, ""), new BulkDeleteStateItem(b, "")]);
        (await Dapr.GetStateAsync<Order>(Store, a)).Should().BeNull();
        (await Dapr.GetStateAsync<Order>(Store, b)).Should().BeNull();
    }

    [BrokerFact]
    public async Task Bytes_that_are_not_json_round_trip_exactly()
    {
        var key = NewKey();
        byte[] bytes = [0, 1, 2, 0xFF, 0xFE, (byte)'{'];
        await Dapr.SaveByteStateAsync(Store, key, bytes);
        (await Dapr.GetByteStateAsync(Store, key)).ToArray().Should().Equal(bytes);
    }
}

public sealed class InMemoryStateSemanticsTests(InMemoryStoreRun run) : StateStoreSemantics<InMemoryStoreRun>(run)
{
    protected override StoreRules Rules { get; } = new(true, HttpStatusCode.Conflict, HttpStatusCode.Conflict, true, true);
}

[RequiresBroker("redis-server")]
public sealed class RedisStateSemanticsTests(RedisStoreRun run) : StateStoreSemantics<RedisStoreRun>(run)
{
    protected override StoreRules Rules { get; } = new(false, HttpStatusCode.BadRequest, HttpStatusCode.InternalServerError, false, false);
}

public sealed class SqliteStateSemanticsTests(SqliteStoreRun run) : StateStoreSemantics<SqliteStoreRun>(run)
{
    protected override StoreRules Rules { get; } = new(true, HttpStatusCode.Conflict, HttpStatusCode.Conflict, true, true);
}
