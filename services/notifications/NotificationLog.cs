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
        // The record and its index entry in one transaction: only the call that creates the record sends.
        var (_, sent) = await dapr.CreateIndexedAsync(Key(order.OrderId), order.OrderId, [IndexKey],
            () => new Notification(order.OrderId, order.CustomerId, kind, message, clock.GetUtcNow()), cancellationToken: ct);
        if (sent) logger.LogInformation("to customer {CustomerId}: {Message}", order.CustomerId, message);
    }
}
