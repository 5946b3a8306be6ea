using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapr;
using Dapr.Client;
using DevSidecar.Tests.Conformance.Harness;
using Grpc.Core;

namespace DevSidecar.Tests.Conformance;

// Oracle (versions: Conformance/README.md): the state HTTP API, daprd dapr/dapr@d8450742 pkg/api/http/http.go
// (constructStateEndpoints), its errors, pkg/api/errors/state.go, and https://docs.dapr.io/reference/api/state_api/;
// ETags and concurrency, dapr/components-contrib@c23900d2 state/requests.go and state/in-memory/in_memory.go; key
// namespacing, pkg/components/state/state_config.go; Dapr.Client over gRPC (TrySave/TryDelete return false iff the
// status is Aborted), dapr/dotnet-sdk@9a16009d src/Dapr.Client/DaprClientGrpc.cs; the gRPC status codes, daprd
// pkg/api/grpc/grpc.go.
public sealed class StateTests(HarnessFixture fixture) : IClassFixture<HarnessFixture>
{
    private Harness.Harness H => fixture.H;
    private const string Store = TestApp.Store;

    private static string NewKey() => "k-" + Guid.NewGuid().ToString("N");

    private record Order(string Id, int Qty);

    private static RpcException? Rpc(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
            if (x is RpcException rpc) return rpc;
        return null;
    }

    private static async Task<JsonObject> ErrorBody(HttpResponseMessage r) => JsonNode.Parse(await r.Content.ReadAsStringAsync())!.AsObject();

    private Task<HttpResponseMessage> SaveHttp(string json, string store = Store) => H.Http.PostAsync($"/v1.0/state/{store}", SidecarClients.Json(json));

    // ---------- Dapr.Client (gRPC) ----------

    [Fact]
    public async Task SaveState_then_GetState_roundtrips_an_object()
    {
        var key = NewKey();
        await H.Dapr.SaveStateAsync(Store, key, new Order("o-1", 5));
        (await H.Dapr.GetStateAsync<Order>(Store, key)).Should().Be(new Order("o-1", 5));
    }

    [Fact]
    public async Task GetState_of_missing_key_is_default()
    {
        (await H.Dapr.GetStateAsync<Order>(Store, NewKey())).Should().BeNull();
        var (value, etag) = await H.Dapr.GetStateAndETagAsync<Order>(Store, NewKey());
        value.Should().BeNull();
        etag.Should().BeNullOrEmpty();
    }

    [Fact]
    public async Task TrySaveState_with_stale_etag_is_false_and_with_current_etag_is_true()
    {
        var key = NewKey();
        await H.Dapr.SaveStateAsync(Store, key, new Order("a", 1));
        var (_, etag1) = await H.Dapr.GetStateAndETagAsync<Order>(Store, key);
        etag1.Should().NotBeNullOrEmpty();
        await H.Dapr.SaveStateAsync(Store, key, new Order("b", 2));
        var (_, etag2) = await H.Dapr.GetStateAndETagAsync<Order>(Store, key);
        etag2.Should().NotBe(etag1, "each write generates a new ETag");

        (await H.Dapr.TrySaveStateAsync(Store, key, new Order("stale", 0), etag1)).Should().BeFalse("ETag mismatch is gRPC Aborted");
        (await H.Dapr.GetStateAsync<Order>(Store, key)).Should().Be(new Order("b", 2));
        (await H.Dapr.TrySaveStateAsync(Store, key, new Order("fresh", 3), etag2)).Should().BeTrue();
        (await H.Dapr.GetStateAsync<Order>(Store, key)).Should().Be(new Order("fresh", 3));
    }

    [Fact]
    public async Task TrySaveState_on_missing_key_with_an_etag_is_false()
    {
        (await H.Dapr.TrySaveStateAsync(Store, NewKey(), new Order("x", 1), "some-etag")).Should().BeFalse("a missing item counts as a mismatch");
    }

    [Fact]
    public async Task TryDeleteState_with_stale_etag_is_false_and_with_current_etag_is_true()
    {
        var key = NewKey();
        await H.Dapr.SaveStateAsync(Store, key, new Order("a", 1));
        var (_, etag1) = await H.Dapr.GetStateAndETagAsync<Order>(Store, key);
        await H.Dapr.SaveStateAsync(Store, key, new Order("b", 2));
        var (_, etag2) = await H.Dapr.GetStateAndETagAsync<Order>(Store, key);

        (await H.Dapr.TryDeleteStateAsync(Store, key, etag1)).Should().BeFalse();
        (await H.Dapr.GetStateAsync<Order>(Store, key)).Should().NotBeNull();
        (await H.Dapr.TryDeleteStateAsync(Store, key, etag2)).Should().BeTrue();
        (await H.Dapr.GetStateAsync<Order>(Store, key)).Should().BeNull();
    }

    [Fact]
    public async Task DeleteState_without_etag_deletes()
    {
        var key = NewKey();
        await H.Dapr.SaveStateAsync(Store, key, "v");
        await H.Dapr.DeleteStateAsync(Store, key);
        (await H.Dapr.GetStateAsync<string>(Store, key)).Should().BeNull();
    }

    [Fact]
    public async Task First_write_without_etag_fails_when_key_exists()
    {
        var key = NewKey();
        var firstWrite = new StateOptions { Concurrency = ConcurrencyMode.FirstWrite };
        await H.Dapr.SaveStateAsync(Store, key, new Order("first", 1), firstWrite);
        var act = () => H.Dapr.SaveStateAsync(Store, key, new Order("second", 2), firstWrite);
        var ex = (await act.Should().ThrowAsync<Exception>()).Which;
        Rpc(ex)!.StatusCode.Should().Be(StatusCode.Aborted);
        (await H.Dapr.GetStateAsync<Order>(Store, key)).Should().Be(new Order("first", 1));

        var (_, etag) = await H.Dapr.GetStateAndETagAsync<Order>(Store, key);
        (await H.Dapr.TrySaveStateAsync(Store, key, new Order("third", 3), etag, firstWrite)).Should().BeTrue();
        (await H.Dapr.GetStateAsync<Order>(Store, key)).Should().Be(new Order("third", 3));
    }

    [Fact]
    public async Task Transaction_upserts_and_deletes_atomically()
    {
        var keep = NewKey();
        var gone = NewKey();
        await H.Dapr.SaveStateAsync(Store, gone, "to-delete");
        await H.Dapr.ExecuteStateTransactionAsync(Store,
        [
            new StateTransactionRequest(keep, JsonSerializer.SerializeToUtf8Bytes(new Order("t", 9)), StateOperationType.Upsert),
            new StateTransactionRequest(gone, null, StateOperationType.Delete),
        ]);
        (await H.Dapr.GetStateAsync<Order>(Store, keep)).Should().Be(new Order("t", 9));
        (await H.Dapr.GetStateAsync<string>(Store, gone)).Should().BeNull();
    }

    [Fact]
    public async Task Transaction_with_stale_etag_fails_and_changes_nothing()
    {
        var a = NewKey();
        var b = NewKey();
        await H.Dapr.SaveStateAsync(Store, a, "a1");
        var (_, staleEtag) = await H.Dapr.GetStateAndETagAsync<string>(Store, a);
        await H.Dapr.SaveStateAsync(Store, a, "a2");

        var act = () => H.Dapr.ExecuteStateTransactionAsync(Store,
        [
            new StateTransactionRequest(b, JsonSerializer.SerializeToUtf8Bytes("b-new"), StateOperationType.Upsert),
            new StateTransactionRequest(a, JsonSerializer.SerializeToUtf8Bytes("a-new"), StateOperationType.Upsert, staleEtag),
        ]);
        var ex = (await act.Should().ThrowAsync<Exception>()).Which;
        Rpc(ex)!.StatusCode.Should().Be(StatusCode.Internal, "transaction failures are always Internal (daprd pkg/api/grpc/grpc.go)");
        (await H.Dapr.GetStateAsync<string>(Store, a)).Should().Be("a2");
        (await H.Dapr.GetStateAsync<string>(Store, b)).Should().BeNull("the transaction is all-or-nothing");
    }

    [Fact]
    public async Task GetBulkState_returns_values_etags_and_missing_keys()
    {
        var k1 = NewKey();
        var k2 = NewKey();
        var missing = NewKey();
        await H.Dapr.SaveStateAsync(Store, k1, new Order("one", 1));
        await H.Dapr.SaveStateAsync(Store, k2, new Order("two", 2));
        var items = await H.Dapr.GetBulkStateAsync<Order>(Store, [k1, k2, missing], parallelism: 2);
        items.Should().HaveCount(3);
        items.Single(i => i.Key == k1).Value.Should().Be(new Order("one", 1));
        items.Single(i => i.Key == k2).Value.Should().Be(new Order("two", 2));
        items.Single(i => i.Key == k1).ETag.Should().NotBeNullOrEmpty();
        items.Single(i => i.Key == missing).Value.Should().BeNull();
    }

    [Fact]
    public async Task Unknown_store_over_grpc_is_InvalidArgument()
    {
        var act = () => H.Dapr.GetStateAsync<string>("nope", NewKey());
        var ex = (await act.Should().ThrowAsync<Exception>()).Which;
        Rpc(ex)!.StatusCode.Should().Be(StatusCode.InvalidArgument);
    }

    // ---------- raw HTTP ----------

    [Fact]
    public async Task Http_get_missing_key_is_204_without_body_or_etag()
    {
        using var resp = await H.Http.GetAsync($"/v1.0/state/{Store}/{NewKey()}");
        resp.StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await resp.Content.ReadAsByteArrayAsync()).Should().BeEmpty();
        resp.Headers.ETag.Should().BeNull();
        resp.Headers.Contains("ETag").Should().BeFalse();
    }

    [Fact]
    public async Task Http_save_is_204_and_get_is_200_json_with_etag_header()
    {
        var key = NewKey();
        using (var save = await SaveHttp($$$"""[{"key":"{{{key}}}","value":{"name":"n","count":2}}]"""))
        {
            save.StatusCode.Should().Be(HttpStatusCode.NoContent);
            (await save.Content.ReadAsByteArrayAsync()).Should().BeEmpty();
        }
        using var resp = await H.Http.GetAsync($"/v1.0/state/{Store}/{key}");
        resp.StatusCode.Should().Be(HttpStatusCode.OK);
        resp.Content.Headers.ContentType!.MediaType.Should().Be("application/json");
        resp.Headers.TryGetValues("ETag", out var etags).Should().BeTrue();
        etags!.Single().Should().NotBeNullOrEmpty();
        var value = JsonNode.Parse(await resp.Content.ReadAsStringAsync())!;
        ((string)value["name"]!).Should().Be("n");
        ((int)value["count"]!).Should().Be(2);
    }

    [Fact]
    public async Task Http_and_grpc_see_the_same_state()
    {
        var key = NewKey();
        (await SaveHttp($$$"""[{"key":"{{{key}}}","value":"from-http"}]""")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await H.Dapr.GetStateAsync<string>(Store, key)).Should().Be("from-http");
    }

    [Fact]
    public async Task Http_save_empty_array_is_204()
    {
        (await SaveHttp("[]")).StatusCode.Should().Be(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task Http_save_with_stale_etag_is_409_ERR_STATE_SAVE()
    {
        var key = NewKey();
        (await SaveHttp($$$"""[{"key":"{{{key}}}","value":1}]""")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var (_, etag) = await H.Dapr.GetStateAndETagAsync<int>(Store, key);
        (await SaveHttp($$$"""[{"key":"{{{key}}}","value":2}]""")).StatusCode.Should().Be(HttpStatusCode.NoContent);

        using var resp = await SaveHttp($$$"""[{"key":"{{{key}}}","value":3,"etag":"{{{etag}}}"}]""");
        resp.StatusCode.Should().Be(HttpStatusCode.Conflict);
        ((string)(await ErrorBody(resp))["errorCode"]!).Should().Be("ERR_STATE_SAVE");
        (await H.Dapr.GetStateAsync<int>(Store, key)).Should().Be(2);
    }

    [Fact]
    public async Task Http_delete_with_stale_if_match_is_409_ERR_STATE_DELETE_and_current_is_204()
    {
        var key = NewKey();
        (await SaveHttp($$$"""[{"key":"{{{key}}}","value":1}]""")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var (_, etag1) = await H.Dapr.GetStateAndETagAsync<int>(Store, key);
        (await SaveHttp($$$"""[{"key":"{{{key}}}","value":2}]""")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var (_, etag2) = await H.Dapr.GetStateAndETagAsync<int>(Store, key);

        using (var req = new HttpRequestMessage(HttpMethod.Delete, $"/v1.0/state/{Store}/{key}"))
        {
            req.Headers.TryAddWithoutValidation("If-Match", etag1);
            using var resp = await H.Http.SendAsync(req);
            resp.StatusCode.Should().Be(HttpStatusCode.Conflict);
            ((string)(await ErrorBody(resp))["errorCode"]!).Should().Be("ERR_STATE_DELETE");
        }
        using (var req = new HttpRequestMessage(HttpMethod.Delete, $"/v1.0/state/{Store}/{key}"))
        {
            req.Headers.TryAddWithoutValidation("If-Match", etag2);
            using var resp = await H.Http.SendAsync(req);
            resp.StatusCode.Should().Be(HttpStatusCode.NoContent);
        }
        (await H.Http.GetAsync($"/v1.0/state/{Store}/{key}")).StatusCode.Should().Be(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task Http_unknown_store_is_400_ERR_STATE_STORE_NOT_FOUND()
    {
        using var resp = await H.Http.GetAsync($"/v1.0/state/nope/{NewKey()}");
        resp.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var body = await ErrorBody(resp);
        ((string)body["errorCode"]!).Should().Be("ERR_STATE_STORE_NOT_FOUND");
        ((string)body["message"]!).Should().Be("state store nope is not found");
        using var save = await SaveHttp("""[{"key":"a","value":1}]""", store: "nope");
        save.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        ((string)(await ErrorBody(save))["errorCode"]!).Should().Be("ERR_STATE_STORE_NOT_FOUND");
    }

    [Fact]
    public async Task Http_key_with_double_pipe_is_400_ERR_MALFORMED_REQUEST()
    {
        using var resp = await SaveHttp("""[{"key":"a||b","value":1}]""");
        resp.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        ((string)(await ErrorBody(resp))["errorCode"]!).Should().Be("ERR_MALFORMED_REQUEST");
        using var get = await H.Http.GetAsync($"/v1.0/state/{Store}/a%7C%7Cb");
        get.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        ((string)(await ErrorBody(get))["errorCode"]!).Should().Be("ERR_MALFORMED_REQUEST");
    }

    [Fact]
    public async Task Http_save_with_bad_json_or_missing_key_is_400_ERR_MALFORMED_REQUEST()
    {
        using var bad = await SaveHttp("[{not json");
        bad.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        ((string)(await ErrorBody(bad))["errorCode"]!).Should().Be("ERR_MALFORMED_REQUEST");
        using var noKey = await SaveHttp("""[{"value":1}]""");
        noKey.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        ((string)(await ErrorBody(noKey))["errorCode"]!).Should().Be("ERR_MALFORMED_REQUEST");
    }

    [Fact]
    public async Task Http_transaction_upsert_delete_is_204()
    {
        var a = NewKey();
        var b = NewKey();
        (await SaveHttp($$$"""[{"key":"{{{b}}}","value":"old"}]""")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var tx = $$$"""{"operations":[{"operation":"upsert","request":{"key":"{{{a}}}","value":"A"}},{"operation":"delete","request":{"key":"{{{b}}}"}}]}""";
        using var resp = await H.Http.PostAsync($"/v1.0/state/{Store}/transaction", SidecarClients.Json(tx));
        resp.StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await H.Dapr.GetStateAsync<string>(Store, a)).Should().Be("A");
        (await H.Dapr.GetStateAsync<string>(Store, b)).Should().BeNull();
    }

    [Fact]
    public async Task Http_transaction_with_stale_etag_is_500_ERR_STATE_TRANSACTION_and_changes_nothing()
    {
        var a = NewKey();
        var b = NewKey();
        (await SaveHttp($$$"""[{"key":"{{{a}}}","value":"a1"}]""")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var (_, stale) = await H.Dapr.GetStateAndETagAsync<string>(Store, a);
        (await SaveHttp($$$"""[{"key":"{{{a}}}","value":"a2"}]""")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        var tx = $$$"""{"operations":[{"operation":"upsert","request":{"key":"{{{b}}}","value":"B"}},{"operation":"upsert","request":{"key":"{{{a}}}","value":"a3","etag":"{{{stale}}}"}}]}""";
        using var resp = await H.Http.PostAsync($"/v1.0/state/{Store}/transaction", SidecarClients.Json(tx));
        resp.StatusCode.Should().Be(HttpStatusCode.InternalServerError, "a transaction ETag mismatch is 500, not 409 (daprd pkg/api/errors/state.go)");
        ((string)(await ErrorBody(resp))["errorCode"]!).Should().Be("ERR_STATE_TRANSACTION");
        (await H.Dapr.GetStateAsync<string>(Store, a)).Should().Be("a2");
        (await H.Dapr.GetStateAsync<string>(Store, b)).Should().BeNull();
    }

    [Fact]
    public async Task Http_transaction_unknown_operation_is_400_ERR_NOT_SUPPORTED_STATE_OPERATION()
    {
        var tx = """{"operations":[{"operation":"merge","request":{"key":"x","value":1}}]}""";
        using var resp = await H.Http.PostAsync($"/v1.0/state/{Store}/transaction", SidecarClients.Json(tx));
        resp.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        ((string)(await ErrorBody(resp))["errorCode"]!).Should().Be("ERR_NOT_SUPPORTED_STATE_OPERATION");
    }

    [Fact]
    public async Task Http_bulk_get_shape()
    {
        var k1 = NewKey();
        var missing = NewKey();
        (await SaveHttp($$$"""[{"key":"{{{k1}}}","value":{"v":1}}]""")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        using var resp = await H.Http.PostAsync($"/v1.0/state/{Store}/bulk", SidecarClients.Json($$$"""{"keys":["{{{k1}}}","{{{missing}}}"],"parallelism":2}"""));
        resp.StatusCode.Should().Be(HttpStatusCode.OK);
        var items = JsonNode.Parse(await resp.Content.ReadAsStringAsync())!.AsArray().Select(i => i!.AsObject()).ToList();
        items.Should().HaveCount(2);
        var present = items.Single(i => (string)i["key"]! == k1);
        ((int)present["data"]!["v"]!).Should().Be(1, "data is raw JSON, not a string");
        ((string)present["etag"]!).Should().NotBeNullOrEmpty();
        var absent = items.Single(i => (string)i["key"]! == missing);
        absent.ContainsKey("data").Should().BeFalse("data is omitted for a missing key");
        items.Should().OnlyContain(i => !((string)i["key"]!).Contains("||"), "the key prefix is stripped in bulk responses");
    }

    [Fact]
    public async Task Same_key_from_two_app_ids_is_two_distinct_values()
    {
        var key = NewKey();
        var other = await H.StartPeerSidecarAsync("other");
        using var otherDapr = SidecarClients.Dapr(other);
        await H.Dapr.SaveStateAsync(Store, key, "mine");
        await otherDapr.SaveStateAsync(Store, key, "theirs");
        // The two sidecars share the in-memory store (same scope; KeyPrefix_name_shares_keys_between_app_ids shows it),
        // so distinct values can only come from the appId|| prefix.
        (await H.Dapr.GetStateAsync<string>(Store, key)).Should().Be("mine", "keys are namespaced as appId||key (daprd pkg/components/state/state_config.go)");
        (await otherDapr.GetStateAsync<string>(Store, key)).Should().Be("theirs");
        using var otherHttp = SidecarClients.Http(other);
        (await otherHttp.GetAsync($"/v1.0/state/{Store}/{NewKey()}")).StatusCode.Should().Be(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task SaveBulkState_and_DeleteBulkState_over_grpc()
    {
        var k1 = NewKey();
        var k2 = NewKey();
        await H.Dapr.SaveBulkStateAsync(Store, [new SaveStateItem<string>(k1, "v1", null!), new SaveStateItem<string>(k2, "v2", null!)]);
        (await H.Dapr.GetStateAsync<string>(Store, k1)).Should().Be("v1");
        (await H.Dapr.GetStateAsync<string>(Store, k2)).Should().Be("v2");
        await H.Dapr.DeleteBulkStateAsync(Store, [new BulkDeleteStateItem(k1, null!), new BulkDeleteStateItem(k2, null!)]);
        (await H.Dapr.GetStateAsync<string>(Store, k1)).Should().BeNull();
        (await H.Dapr.GetStateAsync<string>(Store, k2)).Should().BeNull();
    }

    [Fact]
    public async Task Http_ttl_metadata_is_reported_as_ttlExpireTime_header()
    {
        var key = NewKey();
        var before = DateTimeOffset.UtcNow;
        (await SaveHttp($$$"""[{"key":"{{{key}}}","value":"v","metadata":{"ttlInSeconds":"300"}}]""")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        using var resp = await H.Http.GetAsync($"/v1.0/state/{Store}/{key}");
        resp.StatusCode.Should().Be(HttpStatusCode.OK);
        resp.Headers.TryGetValues("metadata.ttlExpireTime", out var v).Should().BeTrue("TTL is reported as the metadata.ttlExpireTime header (docs.dapr.io state API)");
        DateTimeOffset.Parse(v!.Single(), System.Globalization.CultureInfo.InvariantCulture).Should().BeCloseTo(before.AddSeconds(300), TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task Http_query_metadata_is_merged_into_each_item()
    {
        var key = NewKey();
        using var save = await H.Http.PostAsync($"/v1.0/state/{Store}?metadata.ttlInSeconds=300", SidecarClients.Json($$$"""[{"key":"{{{key}}}","value":"v"}]"""));
        save.StatusCode.Should().Be(HttpStatusCode.NoContent);
        using var resp = await H.Http.GetAsync($"/v1.0/state/{Store}/{key}");
        resp.Headers.Contains("metadata.ttlExpireTime").Should().BeTrue("query metadata.* applies to every item");
    }

    [Fact]
    public async Task Http_first_write_without_etag_on_existing_key_is_409()
    {
        var key = NewKey();
        var item = $$$"""[{"key":"{{{key}}}","value":1,"options":{"concurrency":"first-write"}}]""";
        (await SaveHttp(item)).StatusCode.Should().Be(HttpStatusCode.NoContent);
        using var resp = await SaveHttp(item);
        resp.StatusCode.Should().Be(HttpStatusCode.Conflict);
        ((string)(await ErrorBody(resp))["errorCode"]!).Should().Be("ERR_STATE_SAVE");
    }

    [Fact]
    public async Task Http_illegal_key_error_carries_reason_and_field_violation()
    {
        using var resp = await SaveHttp("""[{"key":"x||y","value":1}]""");
        var error = await ErrorBody(resp);
        error.ContainsKey("details").Should().BeTrue($"the error should carry rich details (daprd pkg/api/errors/state.go), got {error.ToJsonString()}");
        var details = error["details"]!.AsArray().Select(d => d!.AsObject()).ToList();
        ((string)details.Single(d => (string)d["@type"]! == "type.googleapis.com/google.rpc.ErrorInfo")["reason"]!).Should().Be("DAPR_STATE_ILLEGAL_KEY");
        details.Any(d => (string)d["@type"]! == "type.googleapis.com/google.rpc.BadRequest" && d["field_violations"] is JsonArray { Count: > 0 }).Should().BeTrue(
            $"an illegal key carries a BadRequest field violation (daprd pkg/api/errors/state.go); details were {error["details"]!.ToJsonString()}");
    }

    [Fact]
    public async Task Http_empty_transaction_and_delete_of_missing_key_are_204()
    {
        using var tx = await H.Http.PostAsync($"/v1.0/state/{Store}/transaction", SidecarClients.Json("""{"operations":[]}"""));
        tx.StatusCode.Should().Be(HttpStatusCode.NoContent);
        using var del = await H.Http.DeleteAsync($"/v1.0/state/{Store}/{NewKey()}");
        del.StatusCode.Should().Be(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task KeyPrefix_name_shares_keys_between_app_ids()
    {
        var key = NewKey();
        var other = await H.StartPeerSidecarAsync("other");
        using var otherDapr = SidecarClients.Dapr(other);
        await H.Dapr.SaveStateAsync("sharedstore", key, "written-by-first");
        (await otherDapr.GetStateAsync<string>("sharedstore", key)).Should().Be("written-by-first", "keyPrefix: name namespaces by store name, not app id (daprd pkg/components/state/state_config.go)");
    }

    [Fact]
    public async Task State_in_memory_is_per_sidecar_even_with_a_shared_key_prefix()
    {
        // components-contrib v1.17.6 state/in-memory: the map lives inside one daprd.
        await using var cluster = Harness.Harness.ClusterWith(ComponentYaml.Of("memstore", "state.in-memory", ("keyPrefix", "name")));
        var first = await cluster.StartSidecarAsync(Harness.Harness.NewAppId("mem"), appPort: null);
        var second = await cluster.StartSidecarAsync(Harness.Harness.NewAppId("mem"), appPort: null);
        using var firstDapr = SidecarClients.Dapr(first);
        using var secondDapr = SidecarClients.Dapr(second);
        var key = NewKey();
        await firstDapr.SaveStateAsync("memstore", key, "only-here");
        (await firstDapr.GetStateAsync<string>("memstore", key)).Should().Be("only-here");
        (await secondDapr.GetStateAsync<string>("memstore", key)).Should().BeNull();
    }
}
