using System.Text.Json.Serialization;

namespace OrderFlow.Patterns.ReplyTo;

/// <summary>Where a reply is kept until its requester collects it.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ReplyHandling>))]
public enum ReplyHandling
{
    /// <summary>The suite's way: the receiving instance stores the reply under its correlation id.</summary>
    StateStore,
    /// <summary>The essay's way: only the in-memory pending map of the receiving instance.</summary>
    InMemory,
}

/// <summary>The request event: the context travels as the correlation id and the topic to answer on.</summary>
public sealed record PriceRequested(string CorrelationId, string ReplyTo, string Sku, int Quantity, string RequestedBy, int RespondAfterMs);

/// <summary>The reply event, published to the request's replyTo topic.</summary>
public sealed record PriceQuoted(string CorrelationId, string Sku, int Quantity, decimal Total, string RequestedBy, string AnsweredBy);

/// <summary>A reply as stored by whichever instance received it.</summary>
public sealed record ReceivedQuote(PriceQuoted Quote, string ReceivedBy);
