using System.Text.Json.Serialization;
using Grpc.Core;

namespace DevSidecar.Api;

/// <summary>
/// An error as daprd reports it: an HTTP status with <c>{errorCode, message[, details]}</c>, or a gRPC status.
/// Thrown by the shared API services; the HTTP and gRPC front ends translate it.
/// </summary>
public sealed class DaprError(int httpStatus, StatusCode grpcStatus, string errorCode, string message) : Exception(message)
{
    public int HttpStatus { get; } = httpStatus;
    public StatusCode GrpcStatus { get; } = grpcStatus;
    public string ErrorCode { get; } = errorCode;

    /// <summary>google.rpc.ErrorInfo reason (e.g. DAPR_PUBSUB_NOT_FOUND), when daprd attaches rich details.</summary>
    public string? Reason { get; init; }
    public string? ResourceType { get; init; }
    public string? ResourceName { get; init; }

    /// <summary>google.rpc.BadRequest field violations (field, description), for malformed input.</summary>
    public (string Field, string Description)? FieldViolation { get; init; }

    public ErrorBody ToBody()
    {
        List<Dictionary<string, object>>? details = null;
        if (Reason is not null)
        {
            details =
            [
                new() { ["@type"] = "type.googleapis.com/google.rpc.ErrorInfo", ["reason"] = Reason, ["domain"] = "dapr.io", ["metadata"] = new Dictionary<string, string>() },
            ];
            if (ResourceType is not null)
            {
                details.Add(new()
                {
                    ["@type"] = "type.googleapis.com/google.rpc.ResourceInfo",
                    ["resource_type"] = ResourceType,
                    ["resource_name"] = ResourceName ?? "",
                    ["owner"] = "",
                    ["description"] = Message,
                });
            }
            if (FieldViolation is { } violation)
            {
                details.Add(new()
                {
                    ["@type"] = "type.googleapis.com/google.rpc.BadRequest",
                    ["field_violations"] = new[] { new Dictionary<string, string> { ["field"] = violation.Field, ["description"] = violation.Description } },
                });
            }
        }
        return new ErrorBody(ErrorCode, Message, details);
    }

    public RpcException ToRpcException() => new(new Status(GrpcStatus, Message));

    // The errors daprd returns, by the names it gives them (pkg/messages, pkg/api/errors).
    public static DaprError PubSubNotFound(string name) =>
        new(404, StatusCode.InvalidArgument, "ERR_PUBSUB_NOT_FOUND", $"pubsub {name} is not found")
        { Reason = "DAPR_PUBSUB_NOT_FOUND", ResourceType = "pubsub", ResourceName = name };

    public static DaprError PubSubNotConfigured() =>
        new(400, StatusCode.FailedPrecondition, "ERR_PUBSUB_NOT_CONFIGURED", "no pubsub is configured")
        { Reason = "DAPR_PUBSUB_NOT_CONFIGURED", ResourceType = "pubsub" };

    public static DaprError PubSubEmpty() =>
        new(404, StatusCode.InvalidArgument, "ERR_PUBSUB_EMPTY", "pubsub name is empty")
        { Reason = "DAPR_PUBSUB_NAME_EMPTY", ResourceType = "pubsub" };

    public static DaprError TopicEmpty(string pubsub) =>
        new(404, StatusCode.InvalidArgument, "ERR_TOPIC_NAME_EMPTY", $"topic is empty in pubsub {pubsub}")
        { Reason = "DAPR_PUBSUB_TOPIC_NAME_EMPTY", ResourceType = "pubsub", ResourceName = pubsub };

    public static DaprError PubSubMetadata(string pubsub, string detail) =>
        new(400, StatusCode.InvalidArgument, "ERR_PUBSUB_REQUEST_METADATA", $"failed deserializing metadata: {detail}")
        { Reason = "DAPR_PUBSUB_METADATA_DESERIALIZATION", ResourceType = "pubsub", ResourceName = pubsub };

    public static DaprError PubSubCloudEvent(string pubsub, string detail) =>
        new(500, StatusCode.InvalidArgument, "ERR_PUBSUB_CLOUD_EVENTS_SER", $"cannot create cloudevent: {detail}")
        { Reason = "DAPR_PUBSUB_CLOUD_EVENT_CREATION", ResourceType = "pubsub", ResourceName = pubsub };

    public static DaprError PubSubPublish(string pubsub, string topic, string detail) =>
        new(500, StatusCode.Internal, "ERR_PUBSUB_PUBLISH_MESSAGE", $"error when publishing to topic {topic} in pubsub {pubsub}: {detail}")
        { Reason = "DAPR_PUBSUB_PUBLISH_MESSAGE", ResourceType = "pubsub", ResourceName = pubsub };

    public static DaprError PubSubEvents(string pubsub, string detail) =>
        new(400, StatusCode.InvalidArgument, "ERR_PUBSUB_EVENTS_SER", detail)
        { Reason = "DAPR_PUBSUB_EVENTS_SER", ResourceType = "pubsub", ResourceName = pubsub };

    public static DaprError StateStoreNotFound(string name) =>
        new(400, StatusCode.InvalidArgument, "ERR_STATE_STORE_NOT_FOUND", $"state store {name} is not found")
        { Reason = "DAPR_STATE_NOT_FOUND", ResourceType = "state", ResourceName = name };

    public static DaprError StateStoreNotConfigured() =>
        new(500, StatusCode.FailedPrecondition, "ERR_STATE_STORE_NOT_CONFIGURED", "state store is not configured")
        { Reason = "DAPR_STATE_NOT_CONFIGURED", ResourceType = "state" };

    public static DaprError Malformed(string message) =>
        new(400, StatusCode.InvalidArgument, "ERR_MALFORMED_REQUEST", message);

    public static DaprError IllegalKey(string store, string key) =>
        new(400, StatusCode.InvalidArgument, "ERR_MALFORMED_REQUEST", $"input key/keyPrefix '{key}' can't contain '||'")
        {
            Reason = "DAPR_STATE_ILLEGAL_KEY", ResourceType = "state", ResourceName = store,
            FieldViolation = (key, "input key/keyPrefix can't contain '||'"),
        };

    public static DaprError DirectInvoke(string message) =>
        new(500, StatusCode.Internal, "ERR_DIRECT_INVOKE", message);

    public static DaprError NoAppId() =>
        new(404, StatusCode.NotFound, "ERR_DIRECT_INVOKE", "failed getting app id either from the URL path or the header dapr-app-id");
}

public sealed record ErrorBody(
    [property: JsonPropertyName("errorCode")] string ErrorCode,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("details"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    IReadOnlyList<Dictionary<string, object>>? Details);
