using System.Net;
using System.Text.Json.Nodes;
using DevSidecar.Tests.Conformance.Harness;
using Grpc.Core;

namespace DevSidecar.Tests.Workflow;

/// <summary>daprd runs workflows only on the state store marked actorStateStore; without one every workflow call fails.</summary>
public sealed class ActorStateStoreTests
{
    private const string NoActorStore =
        "the state store is not configured to use the actor runtime. Have you set the - name: actorStateStore value: \"true\" in your state store component file?";

    [Fact]
    public async Task Without_a_store_marked_actorStateStore_workflow_calls_fail_as_in_daprd()
    {
        await using var run = Harness.ClusterWith(ComponentYaml.Of("statestore", "state.in-memory"));
        var sidecar = await run.StartSidecarAsync(Harness.NewAppId("no-actors"), appPort: null);
        await using var app = await WorkflowWorkerHost.StartAsync(sidecar.GrpcPort, _ => { });

        var start = () => app.Client.ScheduleNewWorkflowAsync("Anything", "wf-1", input: null);
        (await start.Should().ThrowAsync<RpcException>().Within("the start to be refused"))
            .Which.Status.Should().Match<Status>(s => s.StatusCode == StatusCode.Internal && s.Detail == NoActorStore);

        using var http = SidecarClients.Http(sidecar);
        using var get = await http.GetAsync("/v1.0/workflows/dapr/wf-1");
        get.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        var error = JsonNode.Parse(await get.Content.ReadAsStringAsync())!;
        ((string?)error["errorCode"]).Should().Be("ERR_ACTOR_RUNTIME_NOT_FOUND");
        ((string?)error["message"]).Should().Be(NoActorStore);
    }
}
