using System.Diagnostics;
using Dapr.Client;
using DevSidecar.Tests.Conformance.Harness;
using Grpc.Core;
using Grpc.Net.Client;
using Autogen = Dapr.Client.Autogen.Grpc.v1;

namespace DevSidecar.Tests.Conformance;

// Oracle (versions: Conformance/README.md): h2c gRPC on the gRPC port with server reflection, daprd dapr/dapr@d8450742
// pkg/api/grpc/server.go; version-aware SDK calls that fall back on Unimplemented, dapr/dotnet-sdk@9a16009d
// src/Dapr.Common/DaprRuntimeCapabilities.cs; which client call is gRPC, src/Dapr.Client/DaprClientGrpc.cs; the gRPC
// status codes, daprd pkg/api/grpc/grpc.go.
public sealed class GrpcTests(HarnessFixture fixture) : IClassFixture<HarnessFixture>
{
    private Harness.Harness H => fixture.H;

    private Autogen.Dapr.DaprClient Raw(out GrpcChannel channel)
    {
        channel = GrpcChannel.ForAddress($"http://127.0.0.1:{H.Sidecar.GrpcPort}");
        return new Autogen.Dapr.DaprClient(channel);
    }

    [Fact]
    public async Task Unimplemented_rpc_InvokeBinding_answers_Unimplemented_promptly()
    {
        var client = Raw(out var channel);
        using var _ = channel;
        var sw = Stopwatch.StartNew();
        var act = async () => await client.InvokeBindingAsync(new Autogen.InvokeBindingRequest { Name = "nothing", Operation = "create" },
            deadline: DateTime.UtcNow.AddSeconds(5));
        var ex = (await act.Should().ThrowAsync<RpcException>()).Which;
        ex.StatusCode.Should().Be(StatusCode.Unimplemented, "an RPC the sidecar does not implement must not hang (it is not DeadlineExceeded)");
        sw.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Unimplemented_rpc_through_DaprClient_GetConfiguration_fails_with_Unimplemented()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var act = () => H.Dapr.GetConfiguration("configstore", ["k"], cancellationToken: cts.Token);
        var ex = (await act.Should().ThrowAsync<Exception>()).Which;
        cts.IsCancellationRequested.Should().BeFalse("the call must fail promptly, not hang");
        FindRpc(ex)!.StatusCode.Should().Be(StatusCode.Unimplemented);
    }

    [Fact]
    public async Task Raw_grpc_state_and_metadata_calls_work()
    {
        var client = Raw(out var channel);
        using var _ = channel;
        var key = "raw-" + Guid.NewGuid().ToString("N");
        var save = new Autogen.SaveStateRequest { StoreName = TestApp.Store };
        save.States.Add(new global::Dapr.Client.Autogen.Grpc.v1.StateItem { Key = key, Value = Google.Protobuf.ByteString.CopyFromUtf8("\"v\"") });
        await client.SaveStateAsync(save, deadline: DateTime.UtcNow.AddSeconds(10));
        var got = await client.GetStateAsync(new Autogen.GetStateRequest { StoreName = TestApp.Store, Key = key }, deadline: DateTime.UtcNow.AddSeconds(10));
        got.Data.ToStringUtf8().Should().Be("\"v\"", "gRPC values are stored byte-exact (daprd pkg/api/grpc/grpc.go)");
        got.Etag.Should().NotBeNullOrEmpty();

        var md = await client.GetMetadataAsync(new Autogen.GetMetadataRequest(), deadline: DateTime.UtcNow.AddSeconds(10));
        md.Id.Should().Be(H.AppId);
        md.Subscriptions.Should().Contain(s => s.PubsubName == TestApp.PubSub && s.Topic == "orders");
    }

    [Fact]
    public async Task Stale_etag_save_over_grpc_is_Aborted()
    {
        var client = Raw(out var channel);
        using var _ = channel;
        var key = "raw-" + Guid.NewGuid().ToString("N");
        var save = new Autogen.SaveStateRequest { StoreName = TestApp.Store };
        save.States.Add(new global::Dapr.Client.Autogen.Grpc.v1.StateItem { Key = key, Value = Google.Protobuf.ByteString.CopyFromUtf8("1"), Etag = new global::Dapr.Client.Autogen.Grpc.v1.Etag { Value = "not-the-etag" } });
        var act = async () => await client.SaveStateAsync(save, deadline: DateTime.UtcNow.AddSeconds(10));
        (await act.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.Aborted);
    }

    [Fact]
    public async Task Unknown_pubsub_over_grpc_is_InvalidArgument()
    {
        var act = () => H.Dapr.PublishEventAsync("nope", "orders", new { a = 1 });
        FindRpc((await act.Should().ThrowAsync<Exception>()).Which)!.StatusCode.Should().Be(StatusCode.InvalidArgument);
    }

    private static RpcException? FindRpc(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
            if (x is RpcException rpc) return rpc;
        return null;
    }

    private static readonly Method<byte[], byte[]> Reflection = new(MethodType.DuplexStreaming, "grpc.reflection.v1.ServerReflection", "ServerReflectionInfo",
        Marshallers.Create(b => b, b => b), Marshallers.Create(b => b, b => b));

    private static readonly Method<byte[], byte[]> NoSuchService = new(MethodType.Unary, "foo.bar.v1.NoSuch", "Call",
        Marshallers.Create(b => b, b => b), Marshallers.Create(b => b, b => b));

    [Fact]
    public async Task Server_reflection_answers_or_is_Unimplemented_but_never_hangs()
    {
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{H.Sidecar.GrpcPort}");
        // ServerReflectionRequest { file_containing_symbol (4) = "dapr.proto.runtime.v1.Dapr" }, as Dapr.Client probes it.
        var symbol = System.Text.Encoding.UTF8.GetBytes("dapr.proto.runtime.v1.Dapr");
        var request = new byte[] { 0x22, (byte)symbol.Length }.Concat(symbol).ToArray();
        using var call = channel.CreateCallInvoker().AsyncDuplexStreamingCall(Reflection, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(5)));
        try
        {
            await call.RequestStream.WriteAsync(request);
            await call.RequestStream.CompleteAsync();
            var got = await call.ResponseStream.MoveNext(CancellationToken.None);
            got.Should().BeTrue("reflection answers one response per request");
            call.ResponseStream.Current.Should().NotBeEmpty();
        }
        catch (RpcException ex)
        {
            ex.StatusCode.Should().Be(StatusCode.Unimplemented, "without reflection the probe must fail fast so the SDK falls back (dotnet-sdk src/Dapr.Common/DaprRuntimeCapabilities.cs)");
        }
    }

    [Fact]
    public async Task Unknown_grpc_service_is_Unimplemented()
    {
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{H.Sidecar.GrpcPort}");
        var act = async () => await channel.CreateCallInvoker().AsyncUnaryCall(NoSuchService, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(5)), []);
        (await act.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.Unimplemented);
    }

    [Fact]
    public async Task Grpc_get_state_reports_ttlExpireTime_metadata()
    {
        var client = Raw(out var channel);
        using var _ = channel;
        var key = "ttl-" + Guid.NewGuid().ToString("N");
        var item = new global::Dapr.Client.Autogen.Grpc.v1.StateItem { Key = key, Value = Google.Protobuf.ByteString.CopyFromUtf8("1") };
        item.Metadata["ttlInSeconds"] = "300";
        var save = new Autogen.SaveStateRequest { StoreName = TestApp.Store };
        save.States.Add(item);
        await client.SaveStateAsync(save, deadline: DateTime.UtcNow.AddSeconds(10));
        var got = await client.GetStateAsync(new Autogen.GetStateRequest { StoreName = TestApp.Store, Key = key }, deadline: DateTime.UtcNow.AddSeconds(10));
        got.Metadata.Should().ContainKey("ttlExpireTime", "the store's response metadata (HTTP: the metadata.ttlExpireTime header, docs.dapr.io state API) travels in GetStateResponse.metadata=3 (daprd dapr/proto/runtime/v1/dapr.proto)");
    }
}
