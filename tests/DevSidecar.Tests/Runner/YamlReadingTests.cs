using DevSidecar.Hosting;
using DevSidecar.Resources;
using DevCli;
using YamlDotNet.Core;

namespace DevSidecar.Tests.Runner;

/// <summary>
/// YAML as the resource loader and the run file read it (YamlValues, YamlFields): the plain values YamlDotNet's
/// reflection deserializer used to give, which the AOT build cannot use.
/// </summary>
public sealed class YamlReadingTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Mappings_sequences_texts_and_YAML_nulls_become_dictionaries_lists_strings_and_null()
    {
        var value = YamlValues.ReadSingle("a: 1\nb: [x, ~, '']\nc:\nd: {e: null, f: \"null\"}\n");

        value.Should().BeEquivalentTo(new Dictionary<object, object?>
        {
            ["a"] = "1",
            ["b"] = new List<object?> { "x", null, "" },
            ["c"] = null,
            ["d"] = new Dictionary<object, object?> { ["e"] = null, ["f"] = "null" },
        });
    }

    [Fact]
    public void A_repeated_key_keeps_its_last_value_and_aliases_repeat_their_anchor()
    {
        var value = (Dictionary<object, object>)YamlValues.ReadSingle("a: 1\na: 2\nb: &shared {c: d}\ne: *shared\n")!;

        value["a"].Should().Be("2");
        value["e"].Should().BeSameAs(value["b"]);
    }

    [Theory]
    [InlineData("a: 1\nb: *nowhere\n", 2, "Alias $nowhere cannot precede anchor declaration")]
    [InlineData("a: 1\nb: !custom x\n", 2, "Encountered an unresolved tag '!custom'")]
    [InlineData("a: 1\nb: c: d\n", 2, "found invalid mapping")]
    // The parser throws an InvalidOperationException here; it is reported at the value being read.
    [InlineData("a: 1\nb: {c: [unclosed\nd:\n  e: : :\n", 2, "Exception during deserialization")]
    public void Bad_yaml_is_a_YamlException_with_its_line(string yaml, int line, string message)
    {
        var read = () => YamlValues.ReadSingle(yaml);

        var error = read.Should().Throw<YamlException>().Which;
        error.Message.Should().Contain(message);
        error.Start.Line.Should().Be(line);
    }

    [Fact]
    public void A_structured_component_metadata_value_is_passed_on_as_JSON()
    {
        var folder = _temp.CreateFolder("components");
        _temp.WriteFile("components/store.yaml", """
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: statestore
            spec:
              type: state.in-memory
              metadata:
                - name: structured
                  value: {nested: [1, "t<w>o"], empty: ~}
            """);

        var component = ResourceLoader.Load([folder], "app", ComponentRegistry.KnownTypes).Components.Single();

        component.Metadata["structured"].Should().Be("""{"nested":["1","t\u003Cw\u003Eo"],"empty":null}""");
    }

    [Fact]
    public void Run_file_values_convert_as_before_and_a_wrong_one_is_named_by_its_path()
    {
        _temp.CreateFolder("a");
        var good = _temp.WriteFile("dapr.yaml", "version: 1\napps:\n  - appDirPath: a\n    appSSL: yes\n    appPort: 5000\n    env:\n      UNSET:\n");
        var app = RunFile.Load(good).Apps.Single();
        app.AppProtocol.Should().Be("https");
        app.Env.Should().ContainKey("UNSET").WhoseValue.Should().BeNull("a key with no value leaves the variable unset");

        var bad = _temp.WriteFile("bad.yaml", "version: 1\napps:\n  - appDirPath: a\n    appPort: soon\n");
        var load = () => RunFile.Load(bad);
        load.Should().Throw<RunFileException>().Which.Problem.Should().Be("apps[0].appPort: 'soon' is not an integer");
    }
}
