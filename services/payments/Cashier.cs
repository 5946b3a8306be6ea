using Dapr.Client;
using Microsoft.Extensions.Options;
using OrderFlow.Contracts;
using OrderFlow.ServiceDefaults;

namespace OrderFlow.Payments;

/// <summary>Charges and refunds; one record per order so that a repeated request changes nothing twice.</summary>
public sealed class Cashier(DaprClient dapr, IOptions<PaymentsOptions> options, TimeProvider clock, ILogger<Cashier> logger)
{
    private const string IndexKey = "payments-index";

    private static string Key(string orderId) => $"payment-{orderId}";

    public Task<Payment?> GetAsync(string orderId, CancellationToken ct) =>
        dapr.GetStateAsync<Payment?>(Components.StateStore, Key(orderId), cancellationToken: ct);

    public async Task<IReadOnlyList<LedgerEntry>> LedgerAsync(string? customerId, CancellationToken ct) =>
        (await dapr.ReadIndexedAsync<Payment>(IndexKey, Key, ct))
            .Where(p => customerId is null || p.CustomerId == customerId).SelectMany(p => p.Entries).OrderBy(e => e.At).ToList();

    public async Task<StepResult> ChargeAsync(OrderDetails order, CancellationToken ct)
    {
        var decline = PaymentRules.DeclineReason(order.Amount, options.Value.LimitOf(order.CustomerId));
        // The record and its index entry in one transaction; the payment id comes from the order id, so a racing
        // delivery of the same order builds the same record (see CreateIndexedAsync).
        var paymentId = PaymentRules.PaymentIdOf(order.OrderId);
        var (payment, _) = await dapr.CreateIndexedAsync(Key(order.OrderId), order.OrderId, [IndexKey], () => decline is null
            ? new Payment(paymentId, order.OrderId, order.CustomerId, order.Amount, PaymentStatus.Charged, null,
                [new LedgerEntry(order.OrderId, order.CustomerId, LedgerEntryKind.Charge, order.Amount, clock.GetUtcNow())])
            : new Payment(paymentId, order.OrderId, order.CustomerId, order.Amount, PaymentStatus.Declined, decline, []), cancellationToken: ct);

        if (payment.Status == PaymentStatus.Declined)
        {
            logger.LogInformation("order {OrderId}: {Reason}", order.OrderId, payment.Reason);
            await dapr.PublishEventAsync(Components.PubSub, Topics.PaymentDeclined, new PaymentDeclined(order, payment.Reason!), ct);
            return new StepResult(false, payment.Reason);
        }
        logger.LogInformation("order {OrderId}: charged {Amount} to {CustomerId}", order.OrderId, order.Amount, order.CustomerId);
        await dapr.PublishEventAsync(Components.PubSub, Topics.PaymentCharged, new PaymentCharged(order, payment.PaymentId), ct);
        return new StepResult(true);
    }

    /// <summary>Refunds a charged order (compensation); an order never charged has nothing to refund.</summary>
    public async Task<StepResult> RefundAsync(OrderDetails order, string reason, CancellationToken ct)
    {
        await dapr.UpdateStateAsync<Payment>(Key(order.OrderId), current => current is { Status: PaymentStatus.Charged }
            ? current with
            {
                Status = PaymentStatus.Refunded,
                Reason = reason,
                Entries = [.. current.Entries, new LedgerEntry(order.OrderId, order.CustomerId, LedgerEntryKind.Refund, -current.Amount, clock.GetUtcNow())],
            }
            : null, ct);
        logger.LogInformation("order {OrderId}: refunded ({Reason})", order.OrderId, reason);
        await dapr.PublishEventAsync(Components.PubSub, Topics.PaymentRefunded, new PaymentRefunded(order, reason), ct);
        return new StepResult(true);
    }
}
