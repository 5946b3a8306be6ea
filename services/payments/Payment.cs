using System.Text.Json.Serialization;

namespace OrderFlow.Payments;

[JsonConverter(typeof(JsonStringEnumConverter<PaymentStatus>))]
public enum PaymentStatus { Charged, Declined, Refunded }

[JsonConverter(typeof(JsonStringEnumConverter<LedgerEntryKind>))]
public enum LedgerEntryKind { Charge, Refund }

/// <summary>A movement of money: charges are positive, refunds negative.</summary>
public sealed record LedgerEntry(string OrderId, string CustomerId, LedgerEntryKind Kind, decimal Amount, DateTimeOffset At);

/// <summary>The payment of one order and the ledger entries it caused.</summary>
public sealed record Payment(string PaymentId, string OrderId, string CustomerId, decimal Amount, PaymentStatus Status, string? Reason, IReadOnlyList<LedgerEntry> Entries);

public static class PaymentRules
{
    /// <summary>Why the charge is declined, or null to charge.</summary>
    public static string? DeclineReason(decimal amount, decimal limit) =>
        amount > limit ? $"payment declined: amount {amount:0.00} exceeds the limit {limit:0.00}" : null;

    /// <summary>The payment id of an order: the same for every attempt to charge it.</summary>
    public static string PaymentIdOf(string orderId) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("payment:" + orderId)))[..32];
}
