using System.Net;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Brokers;

// state.sqlite is the embedded persistent store: a restart loses nothing, and sidecars of one process may share the file.
public sealed class SqlitePersistenceTests : IDisposable
{
    private readonly TempFolder _folder = new("devsidecar-sqlite-");
    private string Yaml => ComponentYaml.Of("statestore", "state.sqlite", ("connectionString", $"file:{_folder.Combine("state.db")}"), ("keyPrefix", "name"));

    [Fact]
    public async Task A_value_and_its_etag_survive_a_sidecar_restart()
    {
        var appId = Harness.NewAppId("persist");
        string? etag;
        await using (var first = Harness.ClusterWith(Yaml))
        {
            var sidecar = await first.StartSidecarAsync(appId, appPort: null);
            using var dapr = SidecarClients.Dapr(sidecar);
            await dapr.SaveStateAsync("statestore", "order-1", new { id = "order-1", qty = 3 });
            (_, etag) = await dapr.GetStateAndETagAsync<object>("statestore", "order-1");
        }

        await using var second = Harness.ClusterWith(Yaml);
        var restarted = await second.StartSidecarAsync(appId, appPort: null);
        using var http = SidecarClients.Http(restarted);
        using var response = await http.GetAsync("/v1.0/state/statestore/order-1");
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).Should().Contain("\"qty\":3");
        response.Headers.ETag?.Tag.Trim('"').Should().Be(etag);
    }

    [Fact]
    public async Task Sidecars_sharing_the_file_see_each_others_writes_and_race_safely()
    {
        await using var run = Harness.ClusterWith(Yaml); // keyPrefix name: both apps address the same keys
        var one = await run.StartSidecarAsync(Harness.NewAppId("one"), appPort: null);
        var two = await run.StartSidecarAsync(Harness.NewAppId("two"), appPort: null);
        using var dapr1 = SidecarClients.Dapr(one);
        using var dapr2 = SidecarClients.Dapr(two);

        await dapr1.SaveStateAsync("statestore", "shared", "from-one");
        (await dapr2.GetStateAsync<string>("statestore", "shared")).Should().Be("from-one");

        // Both race to bump one counter with optimistic concurrency; every successful write must be counted once.
        await dapr1.SaveStateAsync("statestore", "counter", 0);
        async Task<int> BumpAsync(Dapr.Client.DaprClient dapr, int times)
        {
            var wins = 0;
            while (wins < times)
            {
                var (value, etag) = await dapr.GetStateAndETagAsync<int>("statestore", "counter");
                if (await dapr.TrySaveStateAsync("statestore", "counter", value + 1, etag)) wins++;
            }
            return wins;
        }
        var wins = await Task.WhenAll(BumpAsync(dapr1, 20), BumpAsync(dapr2, 20));
        (await dapr1.GetStateAsync<int>("statestore", "counter")).Should().Be(wins.Sum());
    }

    [Fact]
    public async Task Workflow_instances_survive_a_sidecar_restart_and_purged_ones_stay_gone()
    {
        var appId = Harness.NewAppId("workflows");
        var yaml = ComponentYaml.Of("statestore", "state.sqlite", ("connectionString", $"file:{_folder.Combine("state.db")}"), ("actorStateStore", "true"));
        const int Instances = 300; // more than the engine saves in one chunk of its instance list
        var ids = Enumerable.Range(0, Instances).Select(i => $"wf-{i}").ToList();
        await using (var first = Harness.ClusterWith(yaml))
        {
            var sidecar = await first.StartSidecarAsync(appId, appPort: null);
            using var http = SidecarClients.Http(sidecar);
            // daprd creates workflows only while a worker is connected. This one knows no workflow, and the instances are
            // scheduled to start in an hour: they stay pending, except the two that are terminated (a terminate wakes
            // an instance early, and the SDK ends it).
            await using (var worker = await WorkflowWorkerHost.StartAsync(sidecar.GrpcPort, _ => { }))
            {
                foreach (var id in ids)
                    await worker.Client.ScheduleNewWorkflowAsync("Nobody", id, input: null, startTime: DateTimeOffset.UtcNow.AddHours(1));
                foreach (var id in new[] { "wf-7", "wf-280" })
                {
                    (await http.PostAsync($"/v1.0/workflows/dapr/{id}/terminate", null)).StatusCode.Should().Be(HttpStatusCode.Accepted);
                    await Wait.UntilAsync(async () => (await worker.Client.GetWorkflowStateAsync(id, false)).RuntimeStatus == Dapr.Workflow.WorkflowRuntimeStatus.Terminated,
                        $"{id} terminated");
                }
            }
            (await http.PostAsync("/v1.0/workflows/dapr/wf-280/purge", null)).StatusCode.Should().Be(HttpStatusCode.Accepted);
        }

        await using var second = Harness.ClusterWith(yaml);
        using var restarted = SidecarClients.Http(await second.StartSidecarAsync(appId, appPort: null));
        var statuses = new Dictionary<string, string?>();
        foreach (var id in ids)
        {
            using var response = await restarted.GetAsync($"/v1.0/workflows/dapr/{id}");
            statuses[id] = response.StatusCode == HttpStatusCode.OK
                ? System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("runtimeStatus").GetString()
                : null;
        }
        statuses["wf-280"].Should().BeNull("a purged instance is not brought back");
        statuses["wf-7"].Should().Be("TERMINATED");
        statuses.Where(s => s.Key is not ("wf-7" or "wf-280")).Should().OnlyContain(s => s.Value == "PENDING");
    }

    public void Dispose() => _folder.Dispose();
}
