using System.Text.Json;
using DevSidecar.Hosting;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using static DevSidecar.Resources.YamlValues;

namespace DevSidecar.Resources;

/// <summary>
/// Reads Dapr resources (Component, Subscription) from the --resources-path folders as daprd's disk
/// loader does: every *.yaml / *.yml file in each folder (not recursive), multi-document, scoped by app id.
/// Resiliency resources are read from the same folders, as daprd's LoadLocalResiliency does; other kinds
/// (Configuration, HTTPEndpoint, …) are skipped.
/// </summary>
public static class ResourceLoader
{
    public static ResourceSet Load(IEnumerable<string> paths, string appId, ISet<string> knownComponentTypes)
    {
        var components = new List<ComponentSpec>();
        var subscriptions = new List<SubscriptionSpec>();
        var componentFiles = new Dictionary<string, string>(StringComparer.Ordinal);
        var subscriptionFiles = new Dictionary<string, string>(StringComparer.Ordinal);
        var resiliencies = new List<Resiliency.ResiliencyResource>();
        var warnings = new List<string>();

        foreach (var path in paths)
        {
            if (!Directory.Exists(path))
                throw new ResourceLoadException(path, "resources path does not exist");

            var files = Directory.EnumerateFiles(path)
                .Where(f => f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
                .Order(StringComparer.Ordinal);
            foreach (var file in files)
            {
                var documents = ReadDocuments(file);
                foreach (var doc in documents)
                {
                    var kind = Str(doc, "kind");
                    var name = Str(Map(doc, "metadata"), "name");
                    switch (kind)
                    {
                        case "Component":
                            var component = ParseComponent(doc, file, appId, knownComponentTypes, warnings);
                            if (componentFiles.TryGetValue(component.Name, out var first))
                                throw new ResourceLoadException(file, $"duplicate component name '{component.Name}' (first defined in {first})");
                            componentFiles[component.Name] = file;
                            if (InScope(component.Scopes, appId)) components.Add(component);
                            break;
                        case "Subscription":
                            var subscription = ParseSubscription(doc, file);
                            if (subscription.Name is { } subName)
                            {
                                if (subscriptionFiles.TryGetValue(subName, out var firstSub))
                                    throw new ResourceLoadException(file, $"duplicate subscription name '{subName}' (first defined in {firstSub})");
                                subscriptionFiles[subName] = file;
                            }
                            if (InScope(subscription.Scopes ?? [], appId)) subscriptions.Add(subscription);
                            break;
                        case "Resiliency":
                            // daprd's resiliency loader unmarshals each file as ONE document: a Resiliency further down a
                            // multi-document file would be ignored on real Dapr, so it is refused here.
                            if (!ReferenceEquals(doc, documents[0]))
                                throw new ResourceLoadException(file, $"resiliency '{name}' must be the first document of its file (daprd reads no other)");
                            resiliencies.Add(Resiliency.ResiliencyResource.Parse(doc, file));
                            break;
                        case null:
                            throw new ResourceLoadException(file, $"resource '{name}' has no kind");
                        default:
                            break; // Configuration, HTTPEndpoint: not interpreted by the dev sidecar.
                    }
                }
            }
        }
        return new ResourceSet(components, subscriptions) { Resiliencies = resiliencies, Warnings = warnings };
    }

    private static bool InScope(IReadOnlyList<string> scopes, string appId) =>
        scopes.Count == 0 || scopes.Contains(appId, StringComparer.Ordinal);

    private static List<Dictionary<object, object>> ReadDocuments(string file)
    {
        var docs = new List<Dictionary<object, object>>();
        try
        {
            using var reader = new StreamReader(file);
            var parser = new Parser(reader);
            parser.Consume<StreamStart>();
            while (parser.Accept<DocumentStart>(out _))
            {
                var doc = YamlValues.ReadDocument(parser);
                switch (doc)
                {
                    case Dictionary<object, object> map: docs.Add(map); break;
                    case null: break; // an empty document between separators
                    default: throw new ResourceLoadException(file, "a document is not a mapping");
                }
            }
        }
        catch (YamlException e)
        {
            throw new ResourceLoadException(file, $"malformed YAML at line {e.Start.Line}, column {e.Start.Column}: {e.InnerException?.Message ?? e.Message}");
        }
        return docs;
    }

    /// <summary>The fields of a Component (dapr v1.17.9 pkg/apis/components/v1alpha1/types.go Component, ComponentSpec).</summary>
    private static readonly string[] ComponentFields = ["apiVersion", "kind", "metadata", "spec", "auth", "scopes"];
    private static readonly string[] ComponentSpecFields = ["type", "version", "ignoreErrors", "metadata", "initTimeout"];

    private static ComponentSpec ParseComponent(Dictionary<object, object> doc, string file, string appId, ISet<string> knownTypes, List<string> warnings)
    {
        var name = Str(Map(doc, "metadata"), "name") ?? throw new ResourceLoadException(file, "component has no metadata.name");
        var spec = Map(doc, "spec") ?? throw new ResourceLoadException(file, $"component '{name}' has no spec");
        warnings.AddRange(UnknownFields(doc, "", ComponentFields, file, name));
        warnings.AddRange(UnknownFields(spec, "spec.", ComponentSpecFields, file, name));
        var type = Str(spec, "type") ?? throw new ResourceLoadException(file, $"component '{name}' has no spec.type");
        if (!knownTypes.Contains(type))
            throw new ResourceLoadException(file, $"component '{name}' has type '{type}', which the dev sidecar does not support (supported: {string.Join(", ", knownTypes.Order())})");
        var version = Str(spec, "version") ?? "v1";

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        if (spec.TryGetValue("metadata", out var rawItems) && rawItems is not null)
        {
            if (rawItems is not List<object> items)
                throw new ResourceLoadException(file, $"component '{name}': spec.metadata must be a list of name/value pairs");
            foreach (var item in items)
            {
                if (item is not Dictionary<object, object> entry || Str(entry, "name") is not { } key)
                    throw new ResourceLoadException(file, $"component '{name}': every spec.metadata entry needs a name");
                metadata[key] = ResolveValue(entry, key, name, file, appId);
            }
        }
        return new ComponentSpec(name, type, version, metadata, StrList(doc, "scopes"), file)
        {
            IgnoreErrors = string.Equals(Str(spec, "ignoreErrors"), "true", StringComparison.OrdinalIgnoreCase),
            // daprd: time.ParseDuration, and the default for anything it cannot parse (an empty value included).
            InitTimeout = Str(spec, "initTimeout") is { } timeout && ComponentSpecValues.ParseGoDuration(timeout) is { } parsed
                ? parsed
                : ComponentSpec.DefaultInitTimeout,
        };
    }

    /// <summary>
    /// A warning per field the Component schema does not have ("scope" for scopes, "spec.metdata"). daprd ignores them:
    /// it reads files with sigs.k8s.io/yaml, i.e. encoding/json, which skips unknown fields and matches the others
    /// case-insensitively (pkg/internal/loader/disk/manifest.go).
    /// </summary>
    private static IEnumerable<string> UnknownFields(Dictionary<object, object> map, string prefix, string[] fields, string file, string component) =>
        map.Keys.Select(k => k.ToString() ?? "")
            .Where(key => !fields.Contains(key, StringComparer.OrdinalIgnoreCase))
            .Select(key => $"{file}: component '{component}': unknown field '{prefix}{key}', which daprd ignores{MetadataKeys.Suggestion(key, fields, prefix)}");

    private static string ResolveValue(Dictionary<object, object> entry, string key, string component, string file, string appId)
    {
        if (Str(entry, "envRef") is { } envVar)
            return Environment.GetEnvironmentVariable(envVar) ?? "";
        if (entry.ContainsKey("secretKeyRef"))
            throw new ResourceLoadException(file, $"component '{component}': metadata '{key}' uses secretKeyRef, which the dev sidecar does not support; use value or envRef");
        entry.TryGetValue("value", out var value);
        var text = value switch
        {
            null => "",
            string s => s,
            _ => JsonSerializer.Serialize(value, SidecarJson.Default.Object),
        };
        // daprd's templating of metadata values (pkg/runtime/meta).
        return text.Replace("{uuid}", Guid.NewGuid().ToString(), StringComparison.Ordinal)
                   .Replace("{appID}", appId, StringComparison.Ordinal)
                   .Replace("{namespace}", $"default.{appId}", StringComparison.Ordinal)
                   .Replace("{podName}", appId, StringComparison.Ordinal);
    }

    private static SubscriptionSpec ParseSubscription(Dictionary<object, object> doc, string file)
    {
        var apiVersion = Str(doc, "apiVersion") ?? "dapr.io/v1alpha1";
        var name = Str(Map(doc, "metadata"), "name");
        var spec = Map(doc, "spec") ?? throw new ResourceLoadException(file, $"subscription '{name}' has no spec");
        var pubsub = Str(spec, "pubsubname") ?? throw new ResourceLoadException(file, $"subscription '{name}' has no spec.pubsubname");
        var topic = Str(spec, "topic") ?? throw new ResourceLoadException(file, $"subscription '{name}' has no spec.topic");

        var rules = new List<RouteRule>();
        string? defaultPath;
        if (apiVersion.EndsWith("v2alpha1", StringComparison.Ordinal))
        {
            var routes = Map(spec, "routes");
            defaultPath = Str(routes, "default");
            if (routes is not null && routes.TryGetValue("rules", out var rawRules) && rawRules is List<object> list)
            {
                foreach (var rule in list.OfType<Dictionary<object, object>>())
                {
                    var path = Str(rule, "path") ?? throw new ResourceLoadException(file, $"subscription '{name}': a rule has no path");
                    rules.Add(new RouteRule(Str(rule, "match") ?? "", path));
                }
            }
        }
        else
        {
            defaultPath = Str(spec, "route");
        }
        if (defaultPath is null && rules.Count == 0)
            throw new ResourceLoadException(file, $"subscription '{name}' has no route");

        var metadata = (Map(spec, "metadata") ?? []).ToDictionary(kv => kv.Key.ToString()!, kv => kv.Value?.ToString() ?? "");
        return new SubscriptionSpec(pubsub, topic, rules, defaultPath, metadata, Str(spec, "deadLetterTopic"),
            "DECLARATIVE", name, StrList(doc, "scopes"), file);
    }
}
