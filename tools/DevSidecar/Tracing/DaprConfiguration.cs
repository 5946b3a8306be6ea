using System.Globalization;
using System.Text.RegularExpressions;
using DevSidecar.Resources;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using static DevSidecar.Resources.YamlValues;

namespace DevSidecar.Tracing;

/// <summary>
/// The Dapr <c>Configuration</c> resource's <c>spec.tracing</c> as daprd reads it (dapr v1.17.9 pkg/config/configuration.go
/// TracingSpec, ZipkinSpec, OtelSpec). The rest of the resource is not modelled; the dev sidecar only reads the tracing
/// section (docs/dev-sidecar.md).
/// </summary>
public sealed record TracingSpec
{
    /// <summary>As written; daprd parses it when it samples (<see cref="Rate"/>).</summary>
    public string SamplingRate { get; init; } = "";
    public bool Stdout { get; init; }
    public string? ZipkinEndpoint { get; init; }
    public string? OtelEndpoint { get; init; }
    /// <summary>"grpc" or "http"; daprd registers no OTLP exporter without one (runtime.go setupTracing).</summary>
    public string? OtelProtocol { get; init; }
    /// <summary>daprd's OtelSpec.GetIsSecure: true unless isSecure is false.</summary>
    public bool OtelIsSecure { get; init; } = true;
    public IReadOnlyList<string> OtelHeaders { get; init; } = [];

    /// <summary>daprd's GetTraceSamplingRate: the text as a float, or 1e-4 when it does not parse (an empty rate too)
    /// (pkg/diagnostics/utils/trace_utils.go).</summary>
    public double Rate => double.TryParse(SamplingRate, NumberStyles.Float, CultureInfo.InvariantCulture, out var rate) ? rate : 1e-4;

    /// <summary>daprd's IsTracingEnabled: false only for a rate of exactly 0. Then its HTTP and gRPC APIs install no
    /// tracing middleware at all (pkg/api/http/server.go useTracing, pkg/api/grpc/server.go).</summary>
    public bool Enabled => Rate != 0;

    public bool HasOtlpExporter => !string.IsNullOrEmpty(OtelEndpoint) && !string.IsNullOrEmpty(OtelProtocol);
    public bool HasExporter => Stdout || !string.IsNullOrEmpty(ZipkinEndpoint) || HasOtlpExporter;

    /// <summary>daprd's default configuration (config.LoadDefaultConfiguration), which then takes the OTLP environment.</summary>
    public static TracingSpec Default => new();
}

/// <summary>A Configuration that daprd would refuse to start with; the message is daprd's.</summary>
public sealed class ConfigurationLoadException(string message) : Exception(message);

public static partial class DaprConfiguration
{
    /// <summary>
    /// Reads <paramref name="path"/> as daprd's LoadStandaloneConfiguration does (a missing or unreadable file, or YAML
    /// that does not decode, stops it: "error loading configuration: …"; environment variables in the text are expanded
    /// first), then applies the OTLP environment as SetTracingSpecFromEnv does. Null path: daprd's default configuration.
    /// Keys daprd would silently ignore (yaml.v3 is not strict) come back as warnings with the nearest known key.
    /// </summary>
    public static (TracingSpec Spec, IReadOnlyList<string> Warnings) Load(string? path, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var warnings = new List<string>();
        var spec = TracingSpec.Default;
        if (path is not null)
        {
            if (!File.Exists(path))
                throw new ConfigurationLoadException($"error loading configuration: stat {path}: no such file or directory");
            string text;
            try
            {
                text = File.ReadAllText(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ConfigurationLoadException($"error loading configuration: open {path}: {e.Message}");
            }
            try
            {
                spec = Parse(ExpandEnv(text, environment), path, warnings);
            }
            catch (YamlException e)
            {
                throw new ConfigurationLoadException($"error loading configuration: yaml: line {e.Start.Line}: {(e.InnerException ?? e).Message}");
            }
        }
        return (FromEnvironment(spec, environment), warnings);
    }

    /// <summary>Go's os.ExpandEnv: $NAME and ${NAME} become the variable's value, empty when unset.</summary>
    private static string ExpandEnv(string text, Func<string, string?> environment) =>
        EnvReference().Replace(text, m => environment(m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value) ?? "");

    [GeneratedRegex(@"\$\{([^}]*)\}|\$([A-Za-z0-9_]+)")]
    private static partial Regex EnvReference();

    private static readonly string[] SpecKeys =
    [
        "httpPipeline", "appHttpPipeline", "tracing", "mtls", "metric", "metrics", "secrets", "accessControl",
        "nameResolution", "features", "api", "components", "logging", "wasm", "workflow",
    ];
    private static readonly string[] TracingKeys = ["samplingRate", "stdout", "zipkin", "otel"];
    private static readonly string[] ZipkinKeys = ["endpointAddress"];
    private static readonly string[] OtelKeys = ["protocol", "endpointAddress", "isSecure", "headers", "timeout"];

    private static TracingSpec Parse(string text, string path, List<string> warnings)
    {
        // yaml.v3's Unmarshal decodes the first document only.
        var parser = new Parser(new StringReader(text));
        parser.Consume<StreamStart>();
        if (parser.Accept<StreamEnd>(out _) || ReadDocument(parser) is not Dictionary<object, object> root) return TracingSpec.Default;
        var spec = Map(root, "spec");
        Unknown(spec, SpecKeys, "spec", path, warnings);
        var tracing = Map(spec, "tracing");
        if (tracing is null) return TracingSpec.Default;
        Unknown(tracing, TracingKeys, "spec.tracing", path, warnings);
        var zipkin = Map(tracing, "zipkin");
        Unknown(zipkin, ZipkinKeys, "spec.tracing.zipkin", path, warnings);
        var otel = Map(tracing, "otel");
        Unknown(otel, OtelKeys, "spec.tracing.otel", path, warnings);
        return new TracingSpec
        {
            SamplingRate = Scalar(tracing, "samplingRate") ?? "",
            Stdout = Bool(tracing, "stdout") ?? false,
            ZipkinEndpoint = Scalar(zipkin, "endpointAddress"),
            OtelEndpoint = Scalar(otel, "endpointAddress"),
            OtelProtocol = Scalar(otel, "protocol"),
            OtelIsSecure = Bool(otel, "isSecure") ?? true,
            OtelHeaders = otel is not null && otel.TryGetValue("headers", out var headers) && headers is List<object> list
                ? [.. list.Select(h => h?.ToString() ?? "")] : [],
        };
    }

    /// <summary>yaml.v3 decodes any scalar into a string field.</summary>
    private static string? Scalar(Dictionary<object, object>? map, string key) =>
        map is not null && map.TryGetValue(key, out var value) ? value switch
        {
            null => null,
            string s => s,
            _ => throw new YamlException($"cannot unmarshal a {(value is List<object> ? "!!seq" : "!!map")} into the string field {key}"),
        } : null;

    /// <summary>yaml.v3's bool: true/false in any of YAML 1.2's spellings, or the 1.1 words it still accepts for a bool field.</summary>
    private static bool? Bool(Dictionary<object, object>? map, string key) => Scalar(map, key) switch
    {
        null => null,
        "true" or "True" or "TRUE" or "yes" or "Yes" or "YES" or "on" or "On" or "ON" => true,
        "false" or "False" or "FALSE" or "no" or "No" or "NO" or "off" or "Off" or "OFF" => false,
        var other => throw new YamlException($"unmarshal errors: cannot unmarshal !!str `{other}` into bool ({key})"),
    };

    private static void Unknown(Dictionary<object, object>? map, string[] known, string where, string path, List<string> warnings)
    {
        foreach (var (key, _) in Entries(map).Where(e => !known.Contains(e.Key, StringComparer.Ordinal)))
        {
            var hint = Spelling.Nearest(key, known) is { IsTypo: true } near ? $"did you mean '{near.Candidate}'?" : $"known keys: {string.Join(", ", known)}";
            warnings.Add($"{path}: {where}: unknown key '{key}' ({hint}); daprd ignores it too, so it has no effect");
        }
    }

    /// <summary>
    /// daprd's SetTracingSpecFromEnv (pkg/config/configuration.go): with no otel endpoint in the file,
    /// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT (scheme stripped) becomes it, the sampling rate
    /// becomes "1" if the file set none, the protocol "http" for an http* OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL and
    /// "grpc" otherwise, and OTEL_EXPORTER_OTLP_INSECURE=true turns isSecure off.
    /// </summary>
    private static TracingSpec FromEnvironment(TracingSpec spec, Func<string, string?> environment)
    {
        if (!string.IsNullOrEmpty(spec.OtelEndpoint)) return spec;
        var endpoint = NonEmpty(environment("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) ?? NonEmpty(environment("OTEL_EXPORTER_OTLP_ENDPOINT"));
        if (endpoint is null) return spec;
        var protocol = NonEmpty(environment("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")) ?? NonEmpty(environment("OTEL_EXPORTER_OTLP_PROTOCOL")) ?? "";
        return spec with
        {
            OtelEndpoint = endpoint.StartsWith("http://", StringComparison.Ordinal) ? endpoint["http://".Length..]
                : endpoint.StartsWith("https://", StringComparison.Ordinal) ? endpoint["https://".Length..] : endpoint,
            SamplingRate = spec.SamplingRate == "" ? "1" : spec.SamplingRate,
            OtelProtocol = protocol.StartsWith("http", StringComparison.Ordinal) ? "http" : "grpc",
            OtelIsSecure = environment("OTEL_EXPORTER_OTLP_INSECURE") == "true" ? false : spec.OtelIsSecure,
        };
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
