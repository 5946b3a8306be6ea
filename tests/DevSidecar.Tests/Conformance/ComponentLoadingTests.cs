using DevSidecar.Hosting;
using DevSidecar.Resources;
using DevSidecar.Tests.Conformance.Harness;

namespace DevSidecar.Tests.Conformance;

// Oracle (versions: Conformance/README.md): the Component schema, daprd dapr/dapr@d8450742
// pkg/apis/components/v1alpha1/types.go and pkg/apis/common/namevalue.go; resources loaded from --resources-path,
// duplicate names an error, scopes, pkg/internal/loader/disk/disk.go; and the hosting API: StartAsync throws
// ResourceLoadException naming the file.
public sealed class ComponentLoadingTests : IDisposable
{
    private readonly TempFolder _folder = new("devsidecar-load-");
    private readonly CapturedLogs _logs = new();
    private string Dir => _folder.Path;

    public void Dispose()
    {
        _logs.Dispose();
        _folder.Dispose();
    }

    private static readonly string Good = ComponentYaml.Of("statestore", "state.in-memory");

    private string Write(string name, string yaml) => _folder.WriteFile(name, yaml);

    private async Task<ResourceLoadException> StartExpectingFailure()
    {
        var options = new SidecarOptions
        {
            AppId = Harness.Harness.NewAppId("load"),
            ResourcesPaths = [Dir],
            RegistryDirectory = Path.Combine(Dir, "registry"),
        };
        Sidecar? started = null;
        var act = async () => { started = await Sidecar.StartAsync(options, _logs.Factory, CancellationToken.None); };
        try
        {
            return (await act.Should().ThrowAsync<ResourceLoadException>()).Which;
        }
        finally
        {
            if (started is not null) await started.DisposeAsync();
        }
    }

    [Fact]
    public async Task Unknown_component_type_fails_start_naming_the_file()
    {
        Write("a-good.yaml", Good);
        var bad = Write("b-unknown.yaml", Good.Replace("name: statestore", "name: weird").Replace("state.in-memory", "state.does-not-exist"));
        var ex = await StartExpectingFailure();
        Path.GetFileName(ex.File).Should().Be(Path.GetFileName(bad));
        ex.Message.Should().Contain("b-unknown.yaml");
    }

    [Fact]
    public async Task Malformed_yaml_fails_start_naming_the_file()
    {
        Write("a-good.yaml", Good);
        var bad = Write("b-broken.yaml", "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: [unclosed\nspec:\n  type: : :\n");
        var ex = await StartExpectingFailure();
        Path.GetFileName(ex.File).Should().Be(Path.GetFileName(bad));
    }

    [Fact]
    public async Task Duplicate_component_name_fails_start_naming_the_file()
    {
        var first = Write("a-store.yaml", Good);
        var second = Write("b-store-again.yaml", Good.Replace("state.in-memory", "pubsub.in-memory"));
        var ex = await StartExpectingFailure();
        Path.GetFileName(ex.File).Should().BeOneOf(Path.GetFileName(first), Path.GetFileName(second));
        ex.Problem.Should().Contain("statestore");
    }

    [Fact]
    public async Task Valid_resources_start_and_component_scoped_to_other_app_is_not_loaded()
    {
        Write("a-good.yaml", Good);
        Write("b-scoped.yaml", Good.Replace("name: statestore", "name: scopedstore") + "\nscopes:\n  - another-app\n");
        var options = new SidecarOptions { AppId = Harness.Harness.NewAppId("load"), ResourcesPaths = [Dir], RegistryDirectory = Path.Combine(Dir, "registry") };
        await using var sidecar = await Sidecar.StartAsync(options, _logs.Factory, CancellationToken.None);
        using var dapr = SidecarClients.Dapr(sidecar);
        var md = await dapr.GetMetadataAsync();
        md.Components.Select(c => c.Name).Should().Contain("statestore").And.NotContain("scopedstore");
    }

    [Fact]
    public async Task Without_components_publish_is_400_ERR_PUBSUB_NOT_CONFIGURED_and_state_is_500_ERR_STATE_STORE_NOT_CONFIGURED()
    {
        var options = new SidecarOptions { AppId = Harness.Harness.NewAppId("empty"), ResourcesPaths = [Dir], RegistryDirectory = Path.Combine(Dir, "registry") };
        await using var sidecar = await Sidecar.StartAsync(options, _logs.Factory, CancellationToken.None);
        using var http = SidecarClients.Http(sidecar);
        using var pub = await http.PostAsync("/v1.0/publish/pubsub/orders", SidecarClients.Json("{}"));
        pub.StatusCode.Should().Be(System.Net.HttpStatusCode.BadRequest);
        (await pub.Content.ReadAsStringAsync()).Should().Contain("\"ERR_PUBSUB_NOT_CONFIGURED\"");
        using var get = await http.GetAsync("/v1.0/state/statestore/k");
        get.StatusCode.Should().Be(System.Net.HttpStatusCode.InternalServerError);
        (await get.Content.ReadAsStringAsync()).Should().Contain("\"ERR_STATE_STORE_NOT_CONFIGURED\"");
    }
}
