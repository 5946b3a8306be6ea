using DevSidecar.Hosting;
using DevSidecar.Resources;
using Microsoft.Extensions.Logging;

namespace DevSidecar.Tests.Conformance;

// Oracle: daprd ignores what it does not know, so these are warnings, never errors. Metadata: components-contrib
// v1.17.6 decodes it with dapr/kit metadata.DecodeMetadata (mapstructure: unknown keys ignored, names matched
// case-insensitively); the keys are each component's metadata.go / metadata.yaml and those daprd reads itself (dapr
// v1.17.9 pkg/runtime/processor/pubsub/pubsub.go consumerID, pkg/scopes, pkg/runtime/pubsub/outbox.go, …). Resource
// fields: pkg/internal/loader/disk/manifest.go reads files with sigs.k8s.io/yaml (encoding/json: unknown fields ignored).
public sealed class MetadataKeyWarningTests : IDisposable
{
    private readonly TempFolder _folder = new("devsidecar-keys-");
    private readonly CapturedLogs _logs = new(captureLevel: LogLevel.Warning);

    public void Dispose()
    {
        _logs.Dispose();
        _folder.Dispose();
    }

    private async Task StartAsync()
    {
        var options = new SidecarOptions { AppId = "keys", ResourcesPaths = [_folder.Path], RegistryDirectory = _folder.Combine("registry") };
        await using var sidecar = await Sidecar.StartAsync(options, _logs.Factory);
    }

    private IReadOnlyList<string> Warnings() => _logs.Lines(LogLevel.Warning);

    [Fact]
    public async Task A_misspelt_key_of_a_pubsub_and_of_a_state_store_is_a_warning_naming_component_key_and_nearest_key_and_the_sidecar_starts()
    {
        var file = _folder.WriteFile("components.yaml", ComponentYaml.Join(
            ComponentYaml.Of("pubsub", "pubsub.in-memory", ("allowedTopic", "orders")),
            ComponentYaml.Of("statestore", "state.sqlite", ("connectionString", ":memory:"), ("busyTimout", "3s"), ("actorStateStore", "true"))));

        await StartAsync();

        Warnings().Should().BeEquivalentTo(
            $"{file}: component 'pubsub' (pubsub.in-memory): unknown metadata key 'allowedTopic', which daprd ignores; did you mean 'allowedTopics'?",
            $"{file}: component 'statestore' (state.sqlite): unknown metadata key 'busyTimout', which daprd ignores; did you mean 'busyTimeout'?");
    }

    [Theory]
    [InlineData("state.redis", "redisHots", "redisHost")]
    [InlineData("pubsub.redis", "processingTimout", "processingTimeout")]
    [InlineData("pubsub.jetstream", "natsUri", "natsURL")]
    [InlineData("pubsub.rabbitmq", "requeueOnFailure", "requeueInFailure")]
    [InlineData("state.redis", "outboxPublishTopc", "outboxPublishTopic")]
    public void The_nearest_key_is_the_component_types_own_or_daprds(string type, string typo, string meant)
    {
        var spec = new ComponentSpec("c", type, "v1", new Dictionary<string, string> { [typo] = "x" }, [], "c.yaml");

        MetadataKeys.Warnings(spec, ComponentRegistry.KeysOf(type)).Should().ContainSingle()
            .Which.Should().EndWith($"unknown metadata key '{typo}', which daprd ignores; did you mean '{meant}'?");
    }

    [Fact]
    public void A_key_in_other_case_is_no_warning_since_contrib_matches_keys_case_insensitively()
    {
        var spec = new ComponentSpec("c", "pubsub.jetstream", "v1", new Dictionary<string, string> { ["natsUrl"] = "nats://localhost:4222" }, [], "c.yaml");

        MetadataKeys.Warnings(spec, ComponentRegistry.KeysOf(spec.Type)).Should().BeEmpty();
    }

    [Fact]
    public async Task An_unknown_field_of_the_component_or_its_spec_is_a_warning_with_the_nearest_field()
    {
        var file = _folder.WriteFile("component.yaml", ComponentYaml.Of("statestore", "state.in-memory")
            .Replace("  metadata: []", "  metdata: []\n  initTimeout: 10s") + "scope:\n  - keys\n");

        await StartAsync();

        Warnings().Should().BeEquivalentTo(
            $"{file}: component 'statestore': unknown field 'scope', which daprd ignores; did you mean 'scopes'?",
            $"{file}: component 'statestore': unknown field 'spec.metdata', which daprd ignores; did you mean 'spec.metadata'?");
    }

    [Fact]
    public void The_suites_own_component_folders_give_no_warning()
    {
        var folders = Directory.GetDirectories(Path.GetDirectoryName(Repo.Components("local"))!).Order().ToList();
        folders.Should().Contain(f => f.EndsWith("jetstream")).And.Contain(f => f.EndsWith("rabbitmq")).And.Contain(f => f.EndsWith("redis"));

        var warnings = folders.SelectMany(folder =>
        {
            var resources = ResourceLoader.Load([folder], "orders", ComponentRegistry.KnownTypes);
            return resources.Warnings.Concat(resources.Components.SelectMany(c => MetadataKeys.Warnings(c, ComponentRegistry.KeysOf(c.Type))));
        });

        warnings.Should().BeEmpty();
    }
}
