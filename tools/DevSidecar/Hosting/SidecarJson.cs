using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using DevSidecar.Invocation;
using DevSidecar.Workflow;

namespace DevSidecar.Hosting;

/// <summary>
/// Source-generated JSON metadata for what the sidecar reads and writes with System.Text.Json's default options, so
/// that no serialization needs reflection (which Native AOT does not have). Bodies written with other options have
/// their own contexts: <see cref="Api.HttpApiJson"/>, and those inside MetadataDocument and ProgrammaticSubscriptions.
/// </summary>
[JsonSerializable(typeof(JsonObject))]
[JsonSerializable(typeof(List<JsonObject>))]
[JsonSerializable(typeof(List<string>))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(IReadOnlyDictionary<string, string>))]
[JsonSerializable(typeof(SidecarEntry))]
[JsonSerializable(typeof(InstanceRecord.Stored))]
// A structured component metadata value, written as JSON: an object holding what YamlValues reads.
[JsonSerializable(typeof(object))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(Dictionary<object, object>))]
[JsonSerializable(typeof(List<object>))]
internal sealed partial class SidecarJson : JsonSerializerContext;
