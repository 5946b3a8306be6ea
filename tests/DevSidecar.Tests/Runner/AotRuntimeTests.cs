using System.Text;
using System.Text.Json.Nodes;

namespace DevSidecar.Tests.Runner;

/// <summary>
/// The sidecar under the runtime rules of its Native AOT build, without the minutes an AOT publish takes: the JIT
/// build, started with the two feature switches that AOT fixes off, reflection-based JSON and dynamic code. The
/// trim/AOT analyzers already fail the build on code they can see needs them; this catches what they cannot, such as
/// a suppressed warning on code that is not safe after all. Every call below reads or writes JSON on its way.
/// </summary>
public sealed class AotRuntimeTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task The_APIs_work_with_reflection_based_JSON_and_dynamic_code_switched_off()
    {
        var components = _temp.CreateFolder("components");
        _temp.WriteFile("components/components.yaml", """
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: statestore
            spec:
              type: state.in-memory
              version: v1
              metadata:
                - name: structured # a value that is not text is passed on as JSON
                  value: {nested: [1, two]}
                - name: actorStateStore
                  value: "true"
            ---
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: pubsub
            spec:
              type: pubsub.in-memory
              version: v1
            """);
        await using var runner = RunnerProcess.StartWithHostArgs(_temp.Combine("registry"), ["--runtimeconfig", AotLikeRuntimeConfig()],
            "run", "--app-id", "aot", "--resources-path", components);
        var sidecar = await runner.WaitForReadyAsync("aot");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{sidecar.DaprHttpPort}"), Timeout = TimeSpan.FromSeconds(30) };

        (await Send(http, HttpMethod.Post, "/v1.0/state/statestore", """[{"key":"a","value":{"x":1}}]""")).Should().Be((204, ""));
        (await Send(http, HttpMethod.Get, "/v1.0/state/statestore/a")).Should().Be((200, """{"x":1}"""));
        (await Send(http, HttpMethod.Post, "/v1.0/state/statestore/bulk", """{"keys":["a"]}""")).Status.Should().Be(200);
        (await Send(http, HttpMethod.Post, "/v1.0/state/statestore/transaction",
            """{"operations":[{"operation":"delete","request":{"key":"a"}}]}""")).Should().Be((204, ""));
        var illegal = await Send(http, HttpMethod.Post, "/v1.0/state/statestore", """[{"key":"a||b","value":1}]""");
        illegal.Status.Should().Be(400);
        JsonNode.Parse(illegal.Body)!["details"]!.AsArray().Should().HaveCount(3, "an error with every kind of detail");

        (await Send(http, HttpMethod.Get, "/v1.0/metadata")).Body.Should().Contain("\"name\":\"statestore\"");
        (await Send(http, HttpMethod.Post, "/v1.0/publish/pubsub/orders", """{"id":1}""")).Should().Be((204, ""));
        (await Send(http, HttpMethod.Post, "/v1.0/publish/bulk/pubsub/orders",
            """[{"entryId":"1","event":{"id":1},"contentType":"application/json"}]""")).Should().Be((204, ""));
        (await Send(http, HttpMethod.Get, "/v1.0/invoke/nobody/method/x")).Body.Should().Contain("ERR_DIRECT_INVOKE");
        (await Send(http, HttpMethod.Get, "/v1.0/workflows/dapr/nope")).Body.Should().Contain("ERR_INSTANCE_ID_NOT_FOUND");

        (await Send(http, HttpMethod.Post, "/v1.0-devsidecar/faults/drop", """{"topic":"orders","count":1}""")).Should().Be((204, ""));
        (await Send(http, HttpMethod.Get, "/v1.0-devsidecar/faults")).Body.Should().Contain("\"topic\":\"orders\"");
        (await Send(http, HttpMethod.Delete, "/v1.0-devsidecar/faults")).Should().Be((204, ""));

        runner.Output.Should().NotContain("Exception");
    }

    private static async Task<(int Status, string Body)> Send(HttpClient http, HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(request);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>The built sidecar's runtimeconfig.json with the switches off, as a file of this test's own.</summary>
    private string AotLikeRuntimeConfig()
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.ChangeExtension(TestPaths.DevCliDll, ".runtimeconfig.json")))!;
        var properties = config["runtimeOptions"]!["configProperties"] ??= new JsonObject();
        properties["System.Text.Json.JsonSerializer.IsReflectionEnabledByDefault"] = false;
        properties["System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported"] = false;
        return _temp.WriteFile("aot-like.runtimeconfig.json", config.ToJsonString());
    }
}
