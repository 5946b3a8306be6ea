using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using DevSidecar.PubSub;

namespace DevSidecar.Api;

/// <summary>
/// Source-generated JSON metadata for the HTTP API bodies that ASP.NET Core's JSON helpers (WriteAsJsonAsync,
/// ReadFromJsonAsync, Results.Json) read and write. Use <see cref="Web"/>: it has the options those helpers default
/// to, which the wire formats were made with.
/// </summary>
[JsonSerializable(typeof(ErrorBody))]
// ErrorBody.Details holds objects; these are the types they hold.
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(Dictionary<string, string>[]))]
[JsonSerializable(typeof(HttpApi.BulkPublishFailure))]
[JsonSerializable(typeof(HttpApi.FaultsReport))]
[JsonSerializable(typeof(DeliveryFaults.DropRule))]
[JsonSerializable(typeof(WorkflowHttpApi.WorkflowStatus))]
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
internal sealed partial class HttpApiJson : JsonSerializerContext
{
    /// <summary>
    /// ASP.NET Core's defaults for its JSON helpers (Microsoft.AspNetCore.Http.Json.JsonOptions): the web defaults
    /// (camelCase, case-insensitive reads, numbers read from strings) and relaxed escaping, which no attribute can set.
    /// </summary>
    public static HttpApiJson Web { get; } = new(new JsonSerializerOptions(JsonSerializerDefaults.Web)
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
