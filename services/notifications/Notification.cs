using System.Text.Json.Serialization;
using OrderFlow.Contracts;

namespace OrderFlow.Notifications;

[JsonConverter(typeof(JsonStringEnumConverter<NotificationKind>))]
public enum NotificationKind { OrderCompleted, OrderCancelled }

public sealed record Notification(string OrderId, string CustomerId, NotificationKind Kind, string Message, DateTimeOffset SentAt);

public static class Messages
{
    public static string Completed(OrderDetails order) =>
        $"Your order {order.OrderId} is on its way to {order.ShipTo.City}.";

    public static string Cancelled(OrderDetails order, string reason) =>
        $"Your order {order.OrderId} was cancelled: {reason}. Anything charged has been refunded.";
}
