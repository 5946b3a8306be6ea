using Dapr.Client;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Notifications;

/// <summary>
/// The notifications sent: "sends" one per order (the log line stands for an e-mail) and keeps it for reading back.
/// </summary>
public sealed class NotificationLog(DaprClient dapr, TimeProvider clock, ILogger<NotificationLog> logger)
{
    private const string IndexKey = "notifications-index";

    private static string Key(string orderId) => $"notification-{orderId}";

    public Task<Notification?> GetAsync(string orderId, CancellationToken ct) =>
        dapr.GetStateAsync<Notification?>(Components.StateStore, Key(orderId), cancellationToken: ct);

    public async Task<IReadOnlyList<Notification>> ListAsync(string? customerId, CancellationToken ct) =>
        (await dapr.ReadIndexedAsync<Notification>(IndexKey, Key, ct))
            .Where(n => customerId is null || n.CustomerId == customerId).OrderBy(n => n.SentAt).ToList();

    /// <summary>Sends at most one notification per order, however often the terminal event is delivered.</summary>
    public async Task SendAsync(OrderDetails order, NotificationKind kind, string message, CancellationToken ct)
    {
        var sent = false;
        await dapr.UpdateStateAsync<Notification>(Key(order.OrderId), current =>
        {
            if (current is not null) return null;
            sent = true;
            return new Notification(order.OrderId, order.CustomerId, kind, message, clock.GetUtcNow());
        }, ct);
        await dapr.AddToIndexAsync(IndexKey, order.OrderId, ct);
        if (sent) logger.LogInformation("to customer {CustomerId}: {Message}", order.CustomerId, message);
    }
}
