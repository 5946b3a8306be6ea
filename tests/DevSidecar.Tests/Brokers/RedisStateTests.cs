using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Dapr;
using Dapr.Client;
using DevSidecar.Tests.Conformance.Harness;
using Grpc.Core;

namespace DevSidecar.Tests.Brokers;

// Oracle: components-contrib v1.17.6 state/redis/redis.go (setDefaultQuery, delDefaultQuery, Set, Multi: each operation
// its own EVAL inside MULTI/EXEC, no rollback, first-write never marked in a transaction) and daprd v1.17.9
// pkg/api/grpc/grpc.go ExecuteStateTransaction / SaveState, pkg/api/http/http.go, pkg/messages/predefined.go.
[RequiresBroker("redis-server")]
public sealed class RedisStateTests(RedisStoreRun run) : IClassFixture<RedisStoreRun>
{
    private const string Store = "statestore";
    private static string NewKey() => "k-" + Guid.NewGuid().ToString("N");
    private static byte[] Json(string text) => Encoding.UTF8.GetBytes(text);

    private static RpcException Rpc(DaprException e) => (RpcException)e.InnerException!;

    [BrokerFact]
    public async Task A_transaction_whose_second_operation_has_a_stale_etag_still_applies_the_first()
    {
        var (fresh, contested) = (NewKey(), NewKey());
        await run.Dapr.SaveStateAsync(Store, contested, 1);
        var (_, stale) = await run.Dapr.GetStateAndETagAsync<int>(Store, contested);
        await run.Dapr.SaveStateAsync(Store, contested, 2);

        var act = () => run.Dapr.ExecuteStateTransactionAsync(Store,
        [
            new StateTransactionRequest(fresh, Json("\"applied\""), StateOperationType.Upsert),
            new StateTransactionRequest(contested, Json("3"), StateOperationType.Upsert, stale),
        ]);
        var rpc = Rpc((await act.Should().ThrowAsync<DaprException>()).Which);
        rpc.StatusCode.Should().Be(StatusCode.Internal);
        rpc.Status.Detail.Should().StartWith($"error while executing state transaction: ERR ")
            .And.Contain($"failed to set key {run.Sidecar.AppId}||{contested}")
            .And.NotContainEquivalentOf("etag", "daprd passes contrib's Redis error as it is");
        (await run.Dapr.GetStateAsync<string>(Store, fresh)).Should().Be("applied", "Redis does not roll back");
        (await run.Dapr.GetStateAsync<int>(Store, contested)).Should().Be(2);
    }

    /// <summary>daprd runs a transaction under the store's component outbound policy and retries it whole on any error
    /// (pkg/api/grpc/grpc.go ExecuteStateTransaction), so on Redis the operations that did apply are applied again.</summary>
    [BrokerFact]
    public async Task Under_an_outbound_retry_policy_a_partial_transaction_is_retried_whole_and_applies_its_good_operations_again()
    {
        await using var cluster = new Cluster(Harness.ClusterOptions(new Dictionary<string, string>
        {
            ["components.yaml"] = ComponentYaml.Of(Store, "state.redis", ("redisHost", run.RedisHostPort)),
            ["store-resiliency.yaml"] = $"""
                apiVersion: dapr.io/v1alpha1
                kind: Resiliency
                metadata:
                  name: store
                spec:
                  policies:
                    retries:
                      twice:
                        policy: constant
                        duration: 10ms
                        maxRetries: 2
                  targets:
                    components:
                      {Store}:
                        outbound:
                          retry: twice
                """,
        }));
        var sidecar = await cluster.StartSidecarAsync(Harness.NewAppId("state"), appPort: null);
        using var dapr = SidecarClients.Dapr(sidecar);
        var (fresh, contested) = (NewKey(), NewKey());
        await dapr.SaveStateAsync(Store, contested, 1);
        var (_, stale) = await dapr.GetStateAndETagAsync<int>(Store, contested);
        await dapr.SaveStateAsync(Store, contested, 2);

        var act = () => dapr.ExecuteStateTransactionAsync(Store,
        [
            new StateTransactionRequest(fresh, Json("\"applied\""), StateOperationType.Upsert),
            new StateTransactionRequest(contested, Json("3"), StateOperationType.Upsert, stale),
        ]);
        Rpc((await act.Should().ThrowAsync<DaprException>()).Which).StatusCode.Should().Be(StatusCode.Internal);
        var (_, freshETag) = await dapr.GetStateAndETagAsync<string>(Store, fresh);
        freshETag.Should().Be("3", "the first attempt and both retries each set the key (contrib's version counts the sets)");

        // A single save's ETag error is final (pkg/components/state/bulk.go wraps it as permanent): Aborted, no retry.
        var (_, current) = await dapr.GetStateAndETagAsync<int>(Store, contested);
        (await dapr.TrySaveStateAsync(Store, contested, 4, stale!)).Should().BeFalse();
        (await dapr.GetStateAndETagAsync<int>(Store, contested)).Should().Be((2, current));
    }

    [BrokerFact]
    public async Task Over_http_a_partial_transaction_is_500_ERR_STATE_TRANSACTION()
    {
        var (fresh, contested) = (NewKey(), NewKey());
        await run.Dapr.SaveStateAsync(Store, contested, 1);
        using var response = await run.Http.PostAsync($"/v1.0/state/{Store}/transaction", SidecarClients.Json($$$"""
            {"operations":[
              {"operation":"upsert","request":{"key":"{{{fresh}}}","value":"applied"}},
              {"operation":"delete","request":{"key":"{{{contested}}}","etag":"999"}}]}
            """));
        response.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        ((string?)body["errorCode"]).Should().Be("ERR_STATE_TRANSACTION");
        ((string?)body["message"]).Should().StartWith("error while executing state transaction: ERR ").And.Contain("failed to delete");
        (await run.Dapr.GetStateAsync<string>(Store, fresh)).Should().Be("applied");
        (await run.Dapr.GetStateAsync<int>(Store, contested)).Should().Be(1);
    }

    [BrokerFact]
    public async Task First_write_is_not_enforced_inside_a_transaction()
    {
        var key = NewKey();
        await run.Dapr.SaveStateAsync(Store, key, 1);
        var firstWrite = new StateOptions { Concurrency = ConcurrencyMode.FirstWrite };
        await run.Dapr.ExecuteStateTransactionAsync(Store,
            [new StateTransactionRequest(key, Json("2"), StateOperationType.Upsert, options: firstWrite)]);
        await run.Dapr.ExecuteStateTransactionAsync(Store,
            [new StateTransactionRequest(key, Json("3"), StateOperationType.Upsert, options: firstWrite)]);
        (await run.Dapr.GetStateAsync<int>(Store, key)).Should().Be(3);
    }

    [BrokerFact]
    public async Task A_first_write_save_marks_the_key_so_later_writes_without_its_etag_fail_with_Internal()
    {
        var key = NewKey();
        var firstWrite = new StateOptions { Concurrency = ConcurrencyMode.FirstWrite };
        await run.Dapr.SaveStateAsync(Store, key, 1, firstWrite);

        var lastWrite = () => run.Dapr.SaveStateAsync(Store, key, 2);
        var rpc = Rpc((await lastWrite.Should().ThrowAsync<DaprException>()).Which);
        rpc.StatusCode.Should().Be(StatusCode.Internal, "without an ETag contrib's error is not an ETag error");
        rpc.Status.Detail.Should().StartWith($"failed saving state in state store {Store}: failed to set key {run.Sidecar.AppId}||{key}: ERR ");

        // TrySaveStateAsync returns false only on Aborted: a stale ETag is one, so it is false…
        var (_, etag) = await run.Dapr.GetStateAndETagAsync<int>(Store, key);
        (await run.Dapr.TrySaveStateAsync(Store, key, 3, etag)).Should().BeTrue();
        (await run.Dapr.TrySaveStateAsync(Store, key, 4, etag)).Should().BeFalse();
        (await run.Dapr.GetStateAsync<int>(Store, key)).Should().Be(3);
    }

    [BrokerFact]
    public async Task First_write_on_a_key_written_without_it_passes()
    {
        var key = NewKey();
        await run.Dapr.SaveStateAsync(Store, key, 1);
        await run.Dapr.SaveStateAsync(Store, key, 2, new StateOptions { Concurrency = ConcurrencyMode.FirstWrite });
        (await run.Dapr.GetStateAsync<int>(Store, key)).Should().Be(2);
    }

    [BrokerFact]
    public async Task A_non_numeric_etag_is_invalid_and_fails_a_transaction_before_anything_is_applied()
    {
        var (fresh, key) = (NewKey(), NewKey());
        await run.Dapr.SaveStateAsync(Store, key, 1);
        var save = () => run.Dapr.TrySaveStateAsync(Store, key, 2, "abc");
        Rpc((await save.Should().ThrowAsync<DaprException>()).Which).StatusCode.Should().Be(StatusCode.InvalidArgument);

        var act = () => run.Dapr.ExecuteStateTransactionAsync(Store,
        [
            new StateTransactionRequest(fresh, Json("1"), StateOperationType.Upsert),
            new StateTransactionRequest(key, Json("2"), StateOperationType.Upsert, "abc"),
        ]);
        Rpc((await act.Should().ThrowAsync<DaprException>()).Which).Status.Detail
            .Should().Be("error while executing state transaction: invalid etag value: strconv.Atoi: parsing \"abc\": invalid syntax");
        (await run.Dapr.GetStateAsync<int?>(Store, fresh)).Should().BeNull();
    }
}
